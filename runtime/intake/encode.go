package intake

import (
	"strconv"
	"unicode/utf8"

	"github.com/tokenwire/tokenwire/abi"
)

// Encode returns e as the JSON object a listener reads with event_read.
// See AppendEncode.
func Encode(e *abi.Event) []byte {
	return AppendEncode(make([]byte, 0, encodedSizeHint(e)), e)
}

// AppendEncode appends e as the JSON object a listener reads with
// event_read and returns the extended buffer.
//
// Fields appear in the order id, type, time, issuer, client_id, subject,
// claims, context, without whitespace between them. Subject is left out
// when empty, and so is context. Claims and Context are copied byte for
// byte, so every number keeps its digits and any whitespace in them, line
// breaks included, stays. They must contain valid JSON, as they do in
// events from Normalize and Decoder. Empty Claims are written as {}.
// Strings escape only what RFC 8259 requires (quotation mark, backslash and
// control characters), and invalid UTF-8 in them becomes U+FFFD.
func AppendEncode(dst []byte, e *abi.Event) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, e.ID)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, e.Type)
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, e.Time, 10)
	dst = append(dst, `,"issuer":`...)
	dst = appendString(dst, e.Issuer)
	dst = append(dst, `,"client_id":`...)
	dst = appendString(dst, e.ClientID)
	if e.Subject != "" {
		dst = append(dst, `,"subject":`...)
		dst = appendString(dst, e.Subject)
	}
	dst = append(dst, `,"claims":`...)
	if len(e.Claims) == 0 {
		dst = append(dst, "{}"...)
	} else {
		dst = append(dst, e.Claims...)
	}
	if len(e.Context) > 0 {
		dst = append(dst, `,"context":`...)
		dst = append(dst, e.Context...)
	}
	return append(dst, '}')
}

// encodedSizeHint estimates the encoded size of e, to size the buffer once.
func encodedSizeHint(e *abi.Event) int {
	const syntax = 96 // field names, quotes, commas and the time digits
	return syntax + len(e.ID) + len(e.Type) + len(e.Issuer) + len(e.ClientID) +
		len(e.Subject) + len(e.Claims) + len(e.Context)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string literal. Invalid UTF-8 becomes
// U+FFFD, as in encoding/json.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
