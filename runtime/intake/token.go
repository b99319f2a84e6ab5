package intake

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// isBase64URL reports whether s uses only the unpadded base64url alphabet
// (RFC 4648 section 5). encoding/base64 would skip '\r' and '\n', which a
// compact JWT must not contain.
func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// decodeSegment decodes one base64url segment of a compact JWT. name is
// "header", "payload" or "signature", for error messages.
func decodeSegment(name, segment string) ([]byte, error) {
	if segment == "" {
		return nil, fmt.Errorf("token %s is empty", name)
	}
	if !isBase64URL(segment) {
		return nil, fmt.Errorf("token %s is not unpadded base64url: it contains characters outside A-Z a-z 0-9 - _", name)
	}
	decoded, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return nil, fmt.Errorf("token %s is not valid base64url: %w", name, err)
	}
	return decoded, nil
}

// decodeJSONObjectSegment decodes a header or payload segment and checks
// that it is UTF-8 JSON text of one object. It returns the object without
// surrounding whitespace.
func decodeJSONObjectSegment(name, segment string) ([]byte, error) {
	decoded, err := decodeSegment(name, segment)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(decoded) {
		return nil, fmt.Errorf("token %s is not valid UTF-8", name)
	}
	if syntaxErr := validateJSON(decoded); syntaxErr != nil {
		return nil, fmt.Errorf("token %s is not valid JSON: %w", name, syntaxErr)
	}
	decoded = trimSpace(decoded)
	if decoded[0] != '{' {
		return nil, fmt.Errorf("token %s is not a JSON object: got %s", name, kindPhrase(decoded))
	}
	return decoded, nil
}

// checkPayloadEncoded rejects a JWS header with "b64": false. With it, the
// payload segment is the payload itself instead of its base64url encoding
// (RFC 7797), and decoding it as base64url would yield claims the issuer
// never signed.
func checkPayloadEncoded(header []byte) error {
	return eachMember(header, func(name, value []byte) error {
		if string(name) == "b64" && string(value) == "false" {
			return errors.New(`token header has "b64": false: unencoded payloads (RFC 7797) are not supported`)
		}
		return nil
	})
}

// claimsFromToken returns the payload of the compact JWT token, the JWT
// claims set, as the exact bytes the issuer signed, minus surrounding
// whitespace. When keys is not nil, the token's signature must verify with
// a key of keys. The token itself never appears in an error, because it is
// a credential.
func claimsFromToken(token string, keys jwk.Set) ([]byte, error) {
	segments := strings.Count(token, ".") + 1
	if segments != 3 {
		return nil, fmt.Errorf("token is not a compact JWT: it has %d segments separated by '.', expected 3 (header.payload.signature); encrypted JWTs (JWE, 5 segments) are not supported", segments)
	}
	headerSegment, rest, _ := strings.Cut(token, ".")
	payloadSegment, signatureSegment, _ := strings.Cut(rest, ".")

	header, err := decodeJSONObjectSegment("header", headerSegment)
	if err != nil {
		return nil, err
	}
	if err := checkPayloadEncoded(header); err != nil {
		return nil, err
	}
	claims, err := decodeJSONObjectSegment("payload", payloadSegment)
	if err != nil {
		return nil, err
	}
	// An unsecured JWT (alg "none") has an empty signature segment, and it is
	// accepted when no keys are configured.
	if !isBase64URL(signatureSegment) {
		return nil, errors.New("token signature is not unpadded base64url: it contains characters outside A-Z a-z 0-9 - _")
	}

	if keys != nil {
		if err := verifyToken(token, keys); err != nil {
			return nil, err
		}
	}
	return claims, nil
}

// verifyToken checks the signature of the compact JWS token against keys.
//
// The key is chosen by the token's "kid" header. A token without "kid" is
// checked against the only key of a set with exactly one key, and rejected
// when the set has more keys. A key without "alg" accepts the algorithms
// that fit its key type, so a JWKS published without "alg" still works.
// The algorithm "none" fits no key type.
func verifyToken(token string, keys jwk.Set) error {
	_, err := jws.Verify([]byte(token),
		jws.WithCompact(),
		jws.WithKeySet(keys,
			jws.WithInferAlgorithmFromKey(true),
			jws.WithUseDefault(true),
		),
	)
	if err != nil {
		return fmt.Errorf("token signature check failed: %w: check that Options.TokenKeys contains the issuer's current signing keys", err)
	}
	return nil
}
