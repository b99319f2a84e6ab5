package signer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// claimMember is one top-level member of a claims object, with its value
// exactly as the listener wrote it.
type claimMember struct {
	name  string
	value json.RawMessage
}

// parsedClaims is a claims object that passed the SET rules.
type parsedClaims struct {
	// issuer is the listener's "iss" claim, nil when it sent none.
	issuer *string
	// members are the claims to copy into the SET, in input order,
	// without "iss", "iat" and "jti".
	members []claimMember
}

// parseClaims checks claims against the SET rules of profile. Every error
// it returns wraps ErrInvalidClaims.
func parseClaims(claims []byte, profile Profile) (*parsedClaims, error) {
	// RFC 8259 requires UTF-8, and encoding/json would silently replace
	// invalid bytes in member names, which could hide a duplicate.
	if !utf8.Valid(claims) {
		return nil, invalidClaims("claims are not valid UTF-8: encode the JSON object as UTF-8")
	}

	dec := json.NewDecoder(bytes.NewReader(claims))
	if err := expectObjectStart(dec, "claims"); err != nil {
		return nil, err
	}

	parsed := &parsedClaims{}
	seen := make(map[string]bool)
	var events json.RawMessage
	for dec.More() {
		name, value, err := nextMember(dec, "claims")
		if err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, invalidClaims("claims contain %q more than once: send each claim once", name)
		}
		// A parser that stops a name at a control character would read
		// "exp\u0000" as "exp", so such names are rejected outright.
		if i := strings.IndexFunc(name, unicode.IsControl); i >= 0 {
			return nil, invalidClaims("claim name %q contains a control character: use printable names", name)
		}
		seen[name] = true

		switch name {
		case "iss":
			// Unmarshal leaves a string unchanged for null, so check the kind.
			var issuer string
			if value[0] != '"' || json.Unmarshal(value, &issuer) != nil {
				return nil, invalidClaims("claim \"iss\" must be a JSON string: omit \"iss\" and the host sets it")
			}
			parsed.issuer = &issuer
			continue
		case "iat", "jti":
			// The host always sets these, so a listener's value is dropped.
			continue
		case "exp":
			return nil, invalidClaims("claims must not contain \"exp\": a SET carries no expiry")
		case "nonce":
			return nil, invalidClaims("claims must not contain \"nonce\": a SET must not be mistaken for an ID token")
		case "sub":
			if profile == ProfileSSF {
				return nil, invalidClaims("claims must not contain \"sub\" under the %s profile: put the subject in \"sub_id\"", ProfileSSF)
			}
		case "events":
			events = value
		}
		parsed.members = append(parsed.members, claimMember{name: name, value: value})
	}

	if err := expectObjectEnd(dec, "claims"); err != nil {
		return nil, err
	}
	if events == nil {
		return nil, invalidClaims("claim \"events\" is missing: add an object that maps each event type URI to an event object")
	}
	if err := checkEvents(events); err != nil {
		return nil, err
	}
	return parsed, nil
}

// checkEvents checks the "events" claim of RFC 8417: a JSON object with at least one member, each named by an absolute URI, each value
// a JSON object.
func checkEvents(events json.RawMessage) error {
	if events[0] != '{' {
		return invalidClaims("claim \"events\" must be a JSON object that maps event type URIs to event objects, not %s", jsonKind(events))
	}

	dec := json.NewDecoder(bytes.NewReader(events))
	if err := expectObjectStart(dec, `claim "events"`); err != nil {
		return err
	}

	count := 0
	for dec.More() {
		eventType, value, err := nextMember(dec, `claim "events"`)
		if err != nil {
			return err
		}
		uri, err := url.Parse(eventType)
		if err != nil || !uri.IsAbs() {
			return invalidClaims("event type %q in claim \"events\" is not an absolute URI: name each event by a URI with a scheme, such as https://… or urn:…", eventType)
		}
		if value[0] != '{' {
			return invalidClaims("event %q in claim \"events\" must be a JSON object, not %s: use {} for an event without fields", eventType, jsonKind(value))
		}
		count++
	}

	if count == 0 {
		return invalidClaims("claim \"events\" is an empty object: add at least one event")
	}
	return nil
}

// expectObjectStart reads the opening brace of the object called objectName.
func expectObjectStart(dec *json.Decoder, objectName string) error {
	token, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return invalidClaims("%s: empty input: send one JSON object", objectName)
	}
	if err != nil {
		return invalidClaims("invalid JSON in %s: %v", objectName, err)
	}
	if token != json.Delim('{') {
		return invalidClaims("%s must be a JSON object, not %s", objectName, tokenKind(token))
	}
	return nil
}

// expectObjectEnd reads the closing brace of the object called objectName and
// checks that nothing but white space follows it.
func expectObjectEnd(dec *json.Decoder, objectName string) error {
	if _, err := dec.Token(); err != nil {
		return invalidClaims("invalid JSON in %s: %v", objectName, err)
	}
	token, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return invalidClaims("invalid JSON after the object in %s: %v", objectName, err)
	}
	return invalidClaims("%s must be one JSON object, but %s follows it", objectName, tokenKind(token))
}

// nextMember reads one member name and its raw value from an object.
func nextMember(dec *json.Decoder, objectName string) (string, json.RawMessage, error) {
	token, err := dec.Token()
	if err != nil {
		return "", nil, invalidClaims("invalid JSON in %s: %v", objectName, err)
	}
	name, ok := token.(string)
	if !ok {
		return "", nil, invalidClaims("invalid JSON in %s: member name %v is not a string", objectName, token)
	}

	var value json.RawMessage
	if err := dec.Decode(&value); err != nil {
		return "", nil, invalidClaims("invalid JSON in %s: value of %q: %v", objectName, name, err)
	}
	return name, bytes.TrimSpace(value), nil
}

// appendPayload appends the SET payload: "iss", "iat" and "jti" first, then
// the listener's claims in their input order with their values unchanged.
func (p *parsedClaims) appendPayload(out []byte, issuerJSON []byte, issuedAt int64, jti string) []byte {
	size := 64 + len(issuerJSON) + len(jti)
	for _, m := range p.members {
		size += len(m.name) + len(m.value) + 8
	}
	if out == nil {
		out = make([]byte, 0, size)
	}

	out = append(out, `{"iss":`...)
	out = append(out, issuerJSON...)
	out = append(out, `,"iat":`...)
	out = strconv.AppendInt(out, issuedAt, 10)
	out = append(out, `,"jti":"`...)
	out = append(out, jti...)
	out = append(out, '"')
	for _, m := range p.members {
		out = append(out, ',')
		out = appendJSONString(out, m.name)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}')
}

// appendJSONString appends s as a JSON string. Names of printable ASCII
// without quotes or backslashes, the usual case, are copied as they are.
func appendJSONString(out []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		out = append(out, '"')
		out = append(out, s...)
		return append(out, '"')
	}

	encoded, _ := json.Marshal(s) // json.Marshal returns no error for a string.
	return append(out, encoded...)
}

// jsonKind names the kind of a raw JSON value for error messages.
func jsonKind(value json.RawMessage) string {
	switch value[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// tokenKind names the kind of the value a json.Decoder token starts.
func tokenKind(token json.Token) string {
	switch v := token.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "a number"
}

func invalidClaims(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidClaims}, args...)...)
}
