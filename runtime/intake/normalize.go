package intake

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/tokenwire/tokenwire/abi"
)

// DefaultMaxEventBytes is the size limit of one event when
// Options.MaxEventBytes is not set.
const DefaultMaxEventBytes = 256 << 10

// Options configures Normalize and Decoder. The zero value is ready to use.
type Options struct {
	// MaxEventBytes is the maximum size of one event's JSON text in bytes.
	// Zero or negative means DefaultMaxEventBytes.
	MaxEventBytes int
	// DefaultIssuer is the issuer of events that give neither "issuer" nor
	// an "iss" claim. When empty, such events are rejected.
	DefaultIssuer string
	// TokenKeys is the key set that verifies the signature of events given
	// in token form. Nil means the signature is not checked.
	TokenKeys jwk.Set
	// Now is the clock that sets the time of events that give neither
	// "time" nor an "iat" claim. Nil means time.Now.
	Now func() time.Time
	// Random is the source for generated event ids. Nil means crypto/rand.
	Random io.Reader
}

func (o Options) withDefaults() Options {
	if o.MaxEventBytes <= 0 {
		o.MaxEventBytes = DefaultMaxEventBytes
	}
	// The Decoder adds a few bytes to the limit for line endings, which
	// must not overflow.
	o.MaxEventBytes = min(o.MaxEventBytes, math.MaxInt/2)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Random == nil {
		o.Random = rand.Reader
	}
	return o
}

// Top-level field names of an event.
const (
	fieldID       = "id"
	fieldType     = "type"
	fieldTime     = "time"
	fieldIssuer   = "issuer"
	fieldClientID = "client_id"
	fieldSubject  = "subject"
	fieldClaims   = "claims"
	fieldContext  = "context"
	fieldToken    = "token"
)

// fieldList is the list of valid top-level fields for error messages.
const fieldList = "id, type, time, issuer, client_id, subject, claims, context, token"

// rawEvent contains the raw JSON value of each top-level field. A nil slice
// means the field is absent.
type rawEvent struct {
	id, typ, time, issuer, clientID, subject, claims, context, token []byte
}

// field returns the slot of the named field, or nil for an unknown name.
func (r *rawEvent) field(name []byte) *[]byte {
	switch string(name) {
	case fieldID:
		return &r.id
	case fieldType:
		return &r.typ
	case fieldTime:
		return &r.time
	case fieldIssuer:
		return &r.issuer
	case fieldClientID:
		return &r.clientID
	case fieldSubject:
		return &r.subject
	case fieldClaims:
		return &r.claims
	case fieldContext:
		return &r.context
	case fieldToken:
		return &r.token
	}
	return nil
}

// Normalize validates one event, a JSON object, and returns it with every
// derived field filled in. The package documentation lists the rules. The
// returned event does not share memory with raw. Every error is an *Error.
// It wraps ErrInvalid or ErrTooLarge unless reading Options.Random failed.
func Normalize(raw []byte, opts Options) (*abi.Event, error) {
	event, err := normalize(raw, opts.withDefaults(), nil)
	if err != nil {
		return nil, err
	}
	return event, nil
}

// normalize is Normalize with defaults already applied. It compacts raw
// into *scratch, which it keeps for the next call when scratch is not nil.
// The returned event does not share memory with raw or *scratch.
func normalize(raw []byte, opts Options, scratch *[]byte) (*abi.Event, *Error) {
	if len(raw) > opts.MaxEventBytes {
		return nil, tooLarge("event is %d bytes, more than the limit of %d", len(raw), opts.MaxEventBytes)
	}

	// One pass checks UTF-8 and JSON syntax and removes whitespace. Only
	// invalid input takes the slower checks, which locate the error.
	var buf []byte
	if scratch != nil {
		buf = *scratch
	}
	obj, ok := appendCompactValid(buf[:0], raw)
	if scratch != nil {
		*scratch = obj[:0]
	}
	if !ok {
		return nil, malformedError(raw)
	}
	if obj[0] != '{' {
		return nil, invalidEvent("event must be a JSON object, got %s", kindPhrase(obj))
	}

	fields, fieldErr := splitFields(obj)
	if fieldErr != nil {
		return nil, fieldErr
	}
	return buildEvent(&fields, opts)
}

// malformedError returns the error for raw, which appendCompactValid
// rejected: the first invalid UTF-8 byte or the first JSON syntax error.
func malformedError(raw []byte) *Error {
	if offset := invalidUTF8Offset(raw); offset >= 0 {
		return invalidEvent("input is not valid UTF-8: invalid byte at offset %d", offset)
	}
	if syntaxErr := validateJSON(raw); syntaxErr != nil {
		return invalidEvent("malformed JSON: %w", syntaxErr)
	}
	// NOTE: unreachable while appendCompactValid accepts exactly what the
	// two checks above accept, which FuzzCompactValid tests.
	return invalidEvent("malformed JSON")
}

// splitFields collects the raw value of each top-level field of the event
// object obj and rejects unknown and repeated field names.
func splitFields(obj []byte) (rawEvent, *Error) {
	var fields rawEvent
	var fieldErr *Error
	err := eachMember(obj, func(name, value []byte) error {
		slot := fields.field(name)
		if slot == nil {
			fieldErr = invalidField(excerpt(name), "unknown field: use one of %s", fieldList)
			return fieldErr
		}
		if *slot != nil {
			fieldErr = invalidField(string(name), "duplicate field: give each field once")
			return fieldErr
		}
		*slot = value
		return nil
	})
	if fieldErr != nil {
		return fields, fieldErr
	}
	if err != nil {
		return fields, invalidEvent("%w", err)
	}
	return fields, nil
}

// givenFields contains the type-checked fields the sender gave, apart from
// claims and token. Empty strings and a nil context mean not given.
type givenFields struct {
	typ, id, issuer, clientID, subject string
	time                               int64
	hasTime                            bool
	context                            []byte
}

// buildEvent type-checks the fields and derives the missing ones.
func buildEvent(fields *rawEvent, opts Options) (*abi.Event, *Error) {
	given, fieldErr := checkGivenFields(fields)
	if fieldErr != nil {
		return nil, fieldErr
	}
	claims, claimsField, fieldErr := claimsOf(fields, opts)
	if fieldErr != nil {
		return nil, fieldErr
	}
	derived, err := scanClaims(claims)
	if err != nil {
		return nil, invalidField(claimsField, "%w", err)
	}

	event := &abi.Event{
		ID:       given.id,
		Type:     given.typ,
		Time:     given.time,
		Issuer:   given.issuer,
		ClientID: given.clientID,
		Subject:  given.subject,
	}
	if !given.hasTime {
		if event.Time, fieldErr = deriveTime(derived, claimsField, opts); fieldErr != nil {
			return nil, fieldErr
		}
	}
	if event.ID == "" {
		if event.ID, fieldErr = deriveID(derived, opts); fieldErr != nil {
			return nil, fieldErr
		}
	}
	if event.Issuer == "" {
		event.Issuer = stringClaim(derived.iss)
	}
	if event.Issuer == "" {
		event.Issuer = opts.DefaultIssuer
	}
	if event.Issuer == "" {
		return nil, invalidField(fieldIssuer, `missing: give "issuer", an "iss" claim, or set Options.DefaultIssuer`)
	}
	if event.ClientID == "" {
		event.ClientID = deriveClientID(derived)
	}
	if event.Subject == "" {
		event.Subject = stringClaim(derived.sub)
	}

	// One copy contains claims and context, so the event never aliases the
	// caller's buffer. Both are compact, so the encoded event is one line
	// whatever the sender's formatting: the event object was compacted
	// before it was split, and claims from a token are compacted here.
	// Compacting removes only whitespace between tokens, so numbers and
	// strings keep their exact text.
	buf := make([]byte, 0, len(claims)+len(given.context))
	if claimsField == fieldToken {
		buf = appendCompact(buf, claims)
	} else {
		buf = append(buf, claims...)
	}
	n := len(buf)
	event.Claims = buf[:n:n]
	if given.context != nil {
		buf = append(buf, given.context...)
		event.Context = buf[n:]
	}
	return event, nil
}

// appendCompact appends src, valid JSON, to dst without insignificant
// whitespace.
func appendCompact(dst, src []byte) []byte {
	if compact, ok := appendCompactValid(dst, src); ok {
		return compact
	}
	return append(dst, src...)
}

// checkGivenFields type-checks every field but claims and token.
func checkGivenFields(fields *rawEvent) (givenFields, *Error) {
	var given givenFields
	var fieldErr *Error

	if fields.typ == nil {
		return given, invalidField(fieldType, "missing: use one of %s", strings.Join(abi.EventTypes, ", "))
	}
	typ, fieldErr := stringFieldBytes(fieldType, fields.typ)
	if fieldErr != nil {
		return given, fieldErr
	}
	var known bool
	if given.typ, known = internEventType(typ); !known {
		return given, invalidField(fieldType, "unknown event type %q: use one of %s",
			excerpt(typ), strings.Join(abi.EventTypes, ", "))
	}

	for _, field := range []struct {
		name  string
		value []byte
		dst   *string
	}{
		{fieldID, fields.id, &given.id},
		{fieldIssuer, fields.issuer, &given.issuer},
		{fieldClientID, fields.clientID, &given.clientID},
		{fieldSubject, fields.subject, &given.subject},
	} {
		if field.value == nil {
			continue
		}
		if *field.dst, fieldErr = stringField(field.name, field.value); fieldErr != nil {
			return given, fieldErr
		}
	}

	if fields.time != nil {
		seconds, err := parseUnixSeconds(fields.time)
		if err != nil {
			return given, invalidField(fieldTime, "%w", err)
		}
		given.time, given.hasTime = seconds, true
	}

	switch jsonKind(fields.context) {
	case "nothing", "null":
	case "object":
		given.context = fields.context
	default:
		return given, invalidField(fieldContext, "expected a JSON object or null, got %s", kindPhrase(fields.context))
	}
	return given, nil
}

// claimsOf returns the claims set from "claims" or "token" and the name of
// the field it came from.
func claimsOf(fields *rawEvent, opts Options) ([]byte, string, *Error) {
	switch {
	case fields.claims != nil && fields.token != nil:
		return nil, "", invalidField(fieldToken, `cannot be combined with "claims": give either the claims set or the compact JWT`)
	case fields.claims != nil:
		if jsonKind(fields.claims) != "object" {
			return nil, "", invalidField(fieldClaims, "expected a JSON object, got %s", kindPhrase(fields.claims))
		}
		return fields.claims, fieldClaims, nil
	case fields.token != nil:
		token, fieldErr := stringField(fieldToken, fields.token)
		if fieldErr != nil {
			return nil, "", fieldErr
		}
		claims, err := claimsFromToken(token, opts.TokenKeys)
		if err != nil {
			return nil, "", invalidField(fieldToken, "%w", err)
		}
		return claims, fieldToken, nil
	default:
		return nil, "", invalidField(fieldClaims, `missing: give "claims" (the JWT claims set as a JSON object) or "token" (a compact JWT)`)
	}
}

// derivedClaims contains the raw values of the claims that fill missing event
// fields. A nil slice means the claim is absent.
type derivedClaims struct {
	jti, iat, iss, clientID, azp, aud, sub []byte
}

func (d *derivedClaims) slot(name []byte) *[]byte {
	switch string(name) {
	case "jti":
		return &d.jti
	case "iat":
		return &d.iat
	case "iss":
		return &d.iss
	case "client_id":
		return &d.clientID
	case "azp":
		return &d.azp
	case "aud":
		return &d.aud
	case "sub":
		return &d.sub
	}
	return nil
}

// stringClaim returns the text of a string claim, or "" when value is
// absent, not a string or not decodable.
func stringClaim(value []byte) string {
	if jsonKind(value) != "string" {
		return ""
	}
	s, err := decodeString(value)
	if err != nil {
		return ""
	}
	return s
}

// linearNameCheck is the claim count up to which duplicate names are found
// by comparing with every earlier name instead of with a map.
const linearNameCheck = 16

// scanClaims reads the claims used for derivation from the claims object
// and rejects repeated claim names. RFC 7519 section 4 requires unique
// claim names, and a repeated one could derive a field from one value while
// a listener reads the other.
func scanClaims(claims []byte) (derivedClaims, error) {
	var derived derivedClaims
	var nameArray [linearNameCheck][]byte
	names := nameArray[:0]
	var seen map[string]struct{}

	err := eachMember(claims, func(name, value []byte) error {
		if seen == nil && len(names) == linearNameCheck {
			seen = make(map[string]struct{}, 2*linearNameCheck)
			for _, earlier := range names {
				seen[string(earlier)] = struct{}{}
			}
		}
		duplicate := false
		if seen != nil {
			_, duplicate = seen[string(name)]
			seen[string(name)] = struct{}{}
		} else {
			for _, earlier := range names {
				if bytes.Equal(earlier, name) {
					duplicate = true
					break
				}
			}
			names = append(names, name)
		}
		if duplicate {
			return fmt.Errorf("claim %q appears more than once: JWT claim names must be unique", excerpt(name))
		}

		if slot := derived.slot(name); slot != nil {
			*slot = value
		}
		return nil
	})
	return derived, err
}

// deriveTime returns the "iat" claim, or the current time when the claim is
// absent.
func deriveTime(derived derivedClaims, claimsField string, opts Options) (int64, *Error) {
	if derived.iat == nil {
		return opts.Now().Unix(), nil
	}
	seconds, err := parseUnixSeconds(derived.iat)
	if err != nil {
		return 0, invalidField(claimsField, `claim "iat": %w: give "time", or an "iat" claim that is a non-negative integer`, err)
	}
	return seconds, nil
}

// deriveID returns the "jti" claim when it is a non-empty string, or a new
// random UUID.
func deriveID(derived derivedClaims, opts Options) (string, *Error) {
	if jti := stringClaim(derived.jti); jti != "" {
		return jti, nil
	}
	id, err := newUUID(opts.Random)
	if err != nil {
		return "", &Error{Field: fieldID, Err: fmt.Errorf("generate event id: read Options.Random: %w", err)}
	}
	return id, nil
}

// deriveClientID returns the first non-empty of the "client_id" and "azp"
// claims, then "aud" when it is one string or an array of exactly one
// string, and "" otherwise.
func deriveClientID(derived derivedClaims) string {
	if id := stringClaim(derived.clientID); id != "" {
		return id
	}
	if id := stringClaim(derived.azp); id != "" {
		return id
	}
	switch jsonKind(derived.aud) {
	case "string":
		return stringClaim(derived.aud)
	case "array":
		return singleString(derived.aud)
	}
	return ""
}

// singleString returns the element of a JSON array whose only element is a
// string, or "" for any other array.
func singleString(array []byte) string {
	inner := trimSpace(array[1 : len(array)-1])
	if jsonKind(inner) != "string" {
		return ""
	}
	end, err := stringEnd(inner, 0)
	if err != nil || end != len(inner) {
		return ""
	}
	s, err := decodeString(inner)
	if err != nil {
		return ""
	}
	return s
}

// internEventType returns the element of abi.EventTypes equal to typ and
// true, or "" and false when typ is not a known event type. Events share
// the element's memory instead of each holding a copy.
func internEventType(typ []byte) (string, bool) {
	for _, eventType := range abi.EventTypes {
		if eventType == string(typ) {
			return eventType, true
		}
	}
	return "", false
}

// stringField decodes a field that must be a JSON string.
func stringField(name string, value []byte) (string, *Error) {
	text, fieldErr := stringFieldBytes(name, value)
	return string(text), fieldErr
}

// stringFieldBytes is stringField for callers that need bytes. For a string
// without escapes it returns a sub-slice of value.
func stringFieldBytes(name string, value []byte) ([]byte, *Error) {
	if jsonKind(value) != "string" {
		return nil, invalidField(name, "expected a string, got %s", kindPhrase(value))
	}
	text, err := decodeStringBytes(value)
	if err != nil {
		return nil, invalidField(name, "%w", err)
	}
	return text, nil
}

// parseUnixSeconds parses a JSON number that must be a non-negative integer
// that fits in int64.
func parseUnixSeconds(value []byte) (int64, error) {
	if jsonKind(value) != "number" {
		return 0, fmt.Errorf("expected an integer number of unix seconds, got %s", kindPhrase(value))
	}
	if value[0] == '-' {
		return 0, fmt.Errorf("must not be negative, got %s", excerpt(value))
	}
	if bytes.ContainsAny(value, ".eE") {
		return 0, fmt.Errorf("expected an integer number of unix seconds, got %s", excerpt(value))
	}
	seconds, err := strconv.ParseInt(string(value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is out of range for unix seconds", excerpt(value))
	}
	return seconds, nil
}

// newUUID returns a random (version 4) UUID in its 36-character form.
func newUUID(random io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant

	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:]), nil
}

// kindPhrase names the kind of a JSON value with its article, for messages
// such as "got a string".
func kindPhrase(value []byte) string {
	switch kind := jsonKind(value); kind {
	case "null", "nothing":
		return kind
	case "object", "array":
		return "an " + kind
	default:
		return "a " + kind
	}
}

// maxExcerpt is the number of bytes of a value quoted in an error message.
const maxExcerpt = 64

// excerpt returns p as a string, cut to maxExcerpt bytes at a rune boundary
// with "..." appended, so an error message stays short.
func excerpt(p []byte) string {
	if len(p) <= maxExcerpt {
		return string(p)
	}
	cut := maxExcerpt
	for cut > 0 && !utf8.RuneStart(p[cut]) {
		cut--
	}
	return string(p[:cut]) + "..."
}

// invalidUTF8Offset returns the offset of the first byte of p that is not
// part of valid UTF-8, or -1.
func invalidUTF8Offset(p []byte) int {
	if utf8.Valid(p) {
		return -1
	}
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}
