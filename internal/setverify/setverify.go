// Package setverify verifies Security Event Tokens (SETs, RFC 8417) signed by
// tokenwire, using only the Go standard library. Tests use it as a check that
// is independent of the JOSE library the signer is built on.
//
// Verify accepts compact JWS with RS256, PS256, ES256 or EdDSA (Ed25519)
// signatures, and a JWK set of public keys as a receiver would fetch it.
package setverify

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ErrSignature is wrapped by the error Verify returns when the token is well
// formed and its key is found, but the signature does not verify.
var ErrSignature = errors.New("SET signature does not verify")

// Verify checks the signature of the compact JWS against the key in jwks
// named by the header's "kid", then checks that the token is a SET. It
// returns the decoded protected header and payload. JSON numbers in both
// are json.Number, so a large integer claim keeps all its digits.
//
// Verify rejects a token unless all of the following hold:
//   - it has three base64url parts without padding, and the header and
//     payload are each one JSON object in UTF-8 without duplicate
//     top-level member names;
//   - the header has "typ" "secevent+jwt", a non-empty "kid" and an "alg"
//     of RS256, PS256, ES256, EdDSA or Ed25519, and no "crit";
//   - jwks contains exactly one key with that kid, with no private key
//     members, whose "kty" and "crv" fit the algorithm, whose "alg", if
//     present, equals the header's, and whose "use", if present, is "sig";
//   - the signature verifies, where PS256 uses a salt as long as the hash
//     and ES256 is the 64-byte r||s form of RFC 7518;
//   - the payload has a non-empty string "iss", an integer "iat", a
//     non-empty string "jti" and an "events" object with at least one
//     member, each named by an absolute URI and each value an object;
//   - the payload has no "exp" and no "nonce" claim.
//
// Verify does not check the issuer's value, the age of "iat" or the "sub"
// claim. Callers compare those with what they expect.
func Verify(compact string, jwks []byte) (header, payload map[string]any, err error) {
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("compact JWS has %d parts: expected header.payload.signature", len(parts))
	}

	header, err = decodeObjectPart(parts[0], "protected header")
	if err != nil {
		return nil, nil, err
	}
	algorithm, keyID, err := checkHeader(header)
	if err != nil {
		return nil, nil, err
	}

	publicKey, err := findKey(jwks, keyID, algorithm)
	if err != nil {
		return nil, nil, err
	}
	signature, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil {
		return nil, nil, fmt.Errorf("signature is not base64url without padding: %w", err)
	}
	signingInput := compact[:len(parts[0])+1+len(parts[1])]
	if err := verifySignature(algorithm, publicKey, []byte(signingInput), signature); err != nil {
		return nil, nil, err
	}

	payload, err = decodeObjectPart(parts[1], "payload")
	if err != nil {
		return nil, nil, err
	}
	if err := checkClaims(payload); err != nil {
		return nil, nil, err
	}
	return header, payload, nil
}

// checkHeader returns the algorithm and key ID of a SET protected header.
func checkHeader(header map[string]any) (algorithm, keyID string, err error) {
	if typ, _ := header["typ"].(string); typ != "secevent+jwt" {
		return "", "", fmt.Errorf("header \"typ\" is %v: a SET has \"secevent+jwt\"", header["typ"])
	}
	if _, ok := header["crit"]; ok {
		return "", "", errors.New("header has \"crit\": no critical extensions are supported")
	}
	keyID, _ = header["kid"].(string)
	if keyID == "" {
		return "", "", fmt.Errorf("header \"kid\" is %v: expected a non-empty string", header["kid"])
	}
	algorithm, _ = header["alg"].(string)
	switch algorithm {
	case "RS256", "PS256", "ES256", "EdDSA", "Ed25519":
		return algorithm, keyID, nil
	}
	return "", "", fmt.Errorf("header \"alg\" is %v: expected RS256, PS256, ES256, EdDSA or Ed25519", header["alg"])
}

// publicJWK contains the JWK members that Verify reads, plus the private
// members that a published JWK set must not contain.
type publicJWK struct {
	KeyType   string `json:"kty"`
	KeyID     string `json:"kid"`
	Algorithm string `json:"alg"`
	Use       string `json:"use"`
	N         string `json:"n"`
	E         string `json:"e"`
	Curve     string `json:"crv"`
	X         string `json:"x"`
	Y         string `json:"y"`

	D  *string `json:"d"`
	P  *string `json:"p"`
	Q  *string `json:"q"`
	DP *string `json:"dp"`
	DQ *string `json:"dq"`
	QI *string `json:"qi"`
	K  *string `json:"k"`
}

// findKey returns the public key named keyID in jwks, checked against
// algorithm.
func findKey(jwks []byte, keyID, algorithm string) (crypto.PublicKey, error) {
	var set struct {
		Keys []publicJWK `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, fmt.Errorf("invalid JWK set: %w", err)
	}

	var found *publicJWK
	for i := range set.Keys {
		key := &set.Keys[i]
		if key.D != nil || key.P != nil || key.Q != nil || key.DP != nil || key.DQ != nil || key.QI != nil || key.K != nil {
			return nil, fmt.Errorf("JWK set contains private or symmetric key material in the key with kid %q", key.KeyID)
		}
		if key.KeyID != keyID {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("JWK set contains several keys with kid %q", keyID)
		}
		found = key
	}
	if found == nil {
		return nil, fmt.Errorf("JWK set contains no key with kid %q", keyID)
	}

	if found.Algorithm != "" && found.Algorithm != algorithm {
		return nil, fmt.Errorf("JWK %q has \"alg\" %q but the header has %q", keyID, found.Algorithm, algorithm)
	}
	if found.Use != "" && found.Use != "sig" {
		return nil, fmt.Errorf("JWK %q has \"use\" %q: a signing key has \"sig\"", keyID, found.Use)
	}
	return buildPublicKey(found, algorithm)
}

// buildPublicKey rebuilds the standard library public key of a JWK.
func buildPublicKey(key *publicJWK, algorithm string) (crypto.PublicKey, error) {
	switch algorithm {
	case "RS256", "PS256":
		if key.KeyType != "RSA" {
			return nil, fmt.Errorf("JWK %q has \"kty\" %q: %s needs \"RSA\"", key.KeyID, key.KeyType, algorithm)
		}
		n, err := decodeInteger(key.N, "n")
		if err != nil {
			return nil, err
		}
		e, err := decodeInteger(key.E, "e")
		if err != nil {
			return nil, err
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, fmt.Errorf("JWK %q has RSA exponent %v out of range", key.KeyID, e)
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil

	case "ES256":
		if key.KeyType != "EC" || key.Curve != "P-256" {
			return nil, fmt.Errorf("JWK %q has \"kty\" %q and \"crv\" %q: ES256 needs \"EC\" and \"P-256\"", key.KeyID, key.KeyType, key.Curve)
		}
		x, err := decodeFixed(key.X, "x", 32)
		if err != nil {
			return nil, err
		}
		y, err := decodeFixed(key.Y, "y", 32)
		if err != nil {
			return nil, err
		}
		point := append(append([]byte{4}, x...), y...)
		public, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return nil, fmt.Errorf("JWK %q is not a P-256 point: %w", key.KeyID, err)
		}
		return public, nil

	default: // EdDSA and Ed25519
		if key.KeyType != "OKP" || key.Curve != "Ed25519" {
			return nil, fmt.Errorf("JWK %q has \"kty\" %q and \"crv\" %q: %s needs \"OKP\" and \"Ed25519\"", key.KeyID, key.KeyType, key.Curve, algorithm)
		}
		x, err := decodeFixed(key.X, "x", ed25519.PublicKeySize)
		if err != nil {
			return nil, err
		}
		return ed25519.PublicKey(x), nil
	}
}

func verifySignature(algorithm string, public crypto.PublicKey, input, signature []byte) error {
	digest := sha256.Sum256(input)
	var err error
	switch algorithm {
	case "RS256":
		err = rsa.VerifyPKCS1v15(public.(*rsa.PublicKey), crypto.SHA256, digest[:], signature)
	case "PS256":
		// RFC 7518 section 3.5 sets the salt length to the hash length.
		err = rsa.VerifyPSS(public.(*rsa.PublicKey), crypto.SHA256, digest[:], signature,
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "ES256":
		if len(signature) != 64 {
			return fmt.Errorf("%w: ES256 signature has %d bytes, expected 64 (r||s)", ErrSignature, len(signature))
		}
		r := new(big.Int).SetBytes(signature[:32])
		s := new(big.Int).SetBytes(signature[32:])
		if !ecdsa.Verify(public.(*ecdsa.PublicKey), digest[:], r, s) {
			err = errors.New("ecdsa: verification error")
		}
	default: // EdDSA and Ed25519
		if !ed25519.Verify(public.(ed25519.PublicKey), input, signature) {
			err = errors.New("ed25519: verification error")
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrSignature, algorithm, err)
	}
	return nil
}

// checkClaims applies the SET rules listed on Verify to a payload.
func checkClaims(payload map[string]any) error {
	if iss, _ := payload["iss"].(string); iss == "" {
		return fmt.Errorf("claim \"iss\" is %v: expected a non-empty string", payload["iss"])
	}
	iat, ok := payload["iat"].(json.Number)
	if !ok {
		return fmt.Errorf("claim \"iat\" is %v: expected an integer", payload["iat"])
	}
	if _, err := iat.Int64(); err != nil {
		return fmt.Errorf("claim \"iat\" is %s: expected an integer of unix seconds", iat)
	}
	if jti, _ := payload["jti"].(string); jti == "" {
		return fmt.Errorf("claim \"jti\" is %v: expected a non-empty string", payload["jti"])
	}
	for _, name := range []string{"exp", "nonce"} {
		if _, ok := payload[name]; ok {
			return fmt.Errorf("claim %q is present: a SET must not contain it", name)
		}
	}

	events, ok := payload["events"].(map[string]any)
	if !ok {
		return fmt.Errorf("claim \"events\" is %v: expected a JSON object", payload["events"])
	}
	if len(events) == 0 {
		return errors.New("claim \"events\" is empty: expected at least one event")
	}
	for eventType, event := range events {
		if uri, err := url.Parse(eventType); err != nil || !uri.IsAbs() {
			return fmt.Errorf("event type %q is not an absolute URI", eventType)
		}
		if _, ok := event.(map[string]any); !ok {
			return fmt.Errorf("event %q is %v: expected a JSON object", eventType, event)
		}
	}
	return nil
}

// decodeObjectPart decodes a base64url JWS part that must contain one JSON
// object without duplicate top-level member names.
func decodeObjectPart(part, partName string) (map[string]any, error) {
	data, err := base64.RawURLEncoding.Strict().DecodeString(part)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64url without padding: %w", partName, err)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%s is not valid UTF-8", partName)
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if token, err := dec.Token(); err != nil || token != json.Delim('{') {
		return nil, fmt.Errorf("%s is not a JSON object: %s", partName, data)
	}
	object := make(map[string]any)
	for dec.More() {
		token, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON in %s: %w", partName, err)
		}
		name, _ := token.(string)
		if _, ok := object[name]; ok {
			return nil, fmt.Errorf("%s contains member %q more than once", partName, name)
		}
		var value any
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("invalid JSON in %s member %q: %w", partName, name, err)
		}
		object[name] = value
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON in %s: %w", partName, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s contains data after the JSON object", partName)
	}
	return object, nil
}

func decodeInteger(value, member string) (*big.Int, error) {
	data, err := base64.RawURLEncoding.Strict().DecodeString(value)
	if err != nil || len(data) == 0 {
		return nil, fmt.Errorf("JWK member %q is not a non-empty base64url integer", member)
	}
	return new(big.Int).SetBytes(data), nil
}

func decodeFixed(value, member string, size int) ([]byte, error) {
	data, err := base64.RawURLEncoding.Strict().DecodeString(value)
	if err != nil || len(data) != size {
		return nil, fmt.Errorf("JWK member %q is not %d bytes of base64url", member, size)
	}
	return data, nil
}
