// Package signer signs Security Event Tokens (SETs, RFC 8417) with the
// issuer's private key on behalf of listeners.
//
// A Signer loads one private key (see Parse), fixes the JWS algorithm and
// key ID at construction, and checks every claims set against the SET rules
// before it signs. Violations of those rules wrap ErrInvalidClaims. Any
// other error from Sign is a host-side failure.
//
// Keys are loaded and described as JWKs with github.com/lestrrat-go/jwx/v3.
// Sign builds the JWS signing input itself from a protected header encoded
// once, copies claim values without re-encoding them, and signs with the
// standard library crypto packages.
package signer

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Profile selects the SET claim rules that Sign enforces.
type Profile string

const (
	// ProfileRFC8417 applies the rules of RFC 8417 alone. It is the default.
	ProfileRFC8417 Profile = "rfc8417"
	// ProfileSSF adds the Shared Signals Framework rule that a SET carries
	// its subject in the sub_id claim (RFC 9493 subject identifiers), so a
	// top-level "sub" claim is rejected.
	ProfileSSF Profile = "ssf"
)

// Algorithm names as they appear in the JWS "alg" header (RFC 7518, and
// RFC 8037 for EdDSA).
//
// NOTE: RFC 9864 deprecates "EdDSA" in favour of "Ed25519", as the jwa
// package of jwx v3.4.0 records. Sign still writes "EdDSA", which jwx and
// setverify accept.
const (
	algRS256 = "RS256"
	algPS256 = "PS256"
	algES256 = "ES256"
	algEdDSA = "EdDSA"
)

// ErrInvalidClaims is wrapped by every Sign error caused by claims that
// break the SET rules, as opposed to a failure of the host. The host maps it
// to the INVALID_ARGUMENT status.
var ErrInvalidClaims = errors.New("invalid SET claims")

// Options configures a Signer. Only Issuer is required.
type Options struct {
	// Issuer is the value of the "iss" claim of every SET. Required.
	Issuer string

	// KeyID selects the key by its "kid" when a JWK set contains several
	// keys. For a key that has no kid of its own, such as a PEM key, it
	// becomes the kid. The default kid is the key's RFC 7638 SHA-256
	// thumbprint, base64url-encoded without padding.
	KeyID string

	// Algorithm is the JWS algorithm. Empty selects the key's JWK "alg"
	// member if it has one, otherwise the default for the key type: RS256
	// for RSA, ES256 for EC P-256 and EdDSA for Ed25519. RSA keys also
	// accept PS256.
	Algorithm string

	// Profile selects the claim rules. Empty means ProfileRFC8417.
	Profile Profile

	// Now returns the current time for the "iat" claim. Default time.Now.
	// Sign calls it without a lock, so it must be safe for concurrent use.
	Now func() time.Time

	// Random is the source of the 128 random bits of each "jti" claim.
	// Default crypto/rand.Reader. Sign serializes reads from a caller's
	// reader, so it need not be safe for concurrent use.
	Random io.Reader
}

// Signer signs SETs with one private key. Its key, algorithm and options are
// fixed at construction, and its methods are safe for concurrent use.
type Signer struct {
	issuer     string
	issuerJSON []byte // Issuer encoded as a JSON string.
	keyID      string
	algorithm  string
	profile    Profile
	now        func() time.Time

	randomMu  sync.Mutex // serializes reads from a caller-supplied Random.
	random    io.Reader
	ownRandom bool // random is crypto/rand, which needs no lock.

	// signFunc returns the JWS signature of a signing input.
	signFunc func(input []byte) ([]byte, error)

	// protectedHeader is the base64url encoding of the protected header,
	// computed once because it is the same for every SET.
	protectedHeader []byte

	// publicJWK is the JSON encoding of the public key as a JWK with kid,
	// alg and use "sig".
	publicJWK []byte
}

// Algorithm returns the JWS algorithm, for example "RS256".
func (s *Signer) Algorithm() string { return s.algorithm }

// KeyID returns the "kid" of the protected header and of the public JWK.
func (s *Signer) KeyID() string { return s.keyID }

// PublicJWKS returns a JSON JWK set that contains the public key alone, with
// kid, alg and use "sig".
func (s *Signer) PublicJWKS() []byte {
	out, _ := JWKS(s) // One signer cannot have a duplicate kid.
	return out
}

// JWKS returns a JSON JWK set of the public keys of signers, in order, so
// that receivers can verify SETs from any of them while keys rotate. Nil
// signers are skipped, and a key that appears twice is listed once. Two
// different keys with the same kid are an error, because a receiver could
// not tell which one verifies a SET.
func JWKS(signers ...*Signer) ([]byte, error) {
	var out bytes.Buffer
	out.WriteString(`{"keys":[`)

	listed := make(map[string][]byte, len(signers))
	for _, s := range signers {
		if s == nil {
			continue
		}
		if prev, ok := listed[s.keyID]; ok {
			if bytes.Equal(prev, s.publicJWK) {
				continue
			}
			return nil, fmt.Errorf("key ID %q is used by two different keys: give each key its own key ID", s.keyID)
		}
		if len(listed) > 0 {
			out.WriteByte(',')
		}
		listed[s.keyID] = s.publicJWK
		out.Write(s.publicJWK)
	}

	out.WriteString(`]}`)
	return out.Bytes(), nil
}

// Sign checks claims against the SET rules, sets "iss", "iat" and "jti",
// and returns the SET as a compact JWS.
//
// Claims must be one JSON object with a non-empty "events" object whose
// member names are absolute URIs and whose member values are objects. A
// supplied "iss" must equal the configured issuer. Supplied "iat" and "jti"
// claims are replaced. The claims "exp" and "nonce", and under ProfileSSF
// also "sub", are rejected, as are duplicate top-level member names. Every
// other claim is copied byte for byte. A rule violation returns an error
// that wraps ErrInvalidClaims and names the claim.
func (s *Signer) Sign(claims []byte) ([]byte, error) {
	parsed, err := parseClaims(claims, s.profile)
	if err != nil {
		return nil, err
	}
	if parsed.issuer != nil && *parsed.issuer != s.issuer {
		return nil, fmt.Errorf("%w: claim \"iss\" is %q but this signer's issuer is %q: omit \"iss\" and the host sets it", ErrInvalidClaims, *parsed.issuer, s.issuer)
	}

	jti, err := s.newJTI()
	if err != nil {
		return nil, err
	}
	payload := parsed.appendPayload(nil, s.issuerJSON, s.now().Unix(), jti)

	return s.signPayload(payload)
}

// signPayload returns the compact JWS of payload under the protected header.
func (s *Signer) signPayload(payload []byte) ([]byte, error) {
	enc := base64.RawURLEncoding
	headerLen := len(s.protectedHeader)
	inputLen := headerLen + 1 + enc.EncodedLen(len(payload))

	// Signatures of keys up to RSA 4096 fit in 512 bytes, so one
	// allocation usually holds the whole token.
	out := make([]byte, inputLen, inputLen+1+enc.EncodedLen(512))
	copy(out, s.protectedHeader)
	out[headerLen] = '.'
	enc.Encode(out[headerLen+1:], payload)

	signature, err := s.signFunc(out[:inputLen])
	if err != nil {
		return nil, fmt.Errorf("sign SET with %s key %q: %w", s.algorithm, s.keyID, err)
	}

	out = append(out, '.')
	return enc.AppendEncode(out, signature), nil
}

// newJTI returns 128 random bits as 32 lowercase hex digits.
func (s *Signer) newJTI() (string, error) {
	var b [16]byte
	var err error
	if s.ownRandom {
		_, err = io.ReadFull(s.random, b[:])
	} else {
		s.randomMu.Lock()
		_, err = io.ReadFull(s.random, b[:])
		s.randomMu.Unlock()
	}
	if err != nil {
		return "", fmt.Errorf("read random bits for \"jti\": %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// newSignFunc returns the function that computes the JWS signature of a
// signing input with key under algorithm.
func newSignFunc(algorithm string, key crypto.Signer) (func([]byte) ([]byte, error), error) {
	switch algorithm {
	case algRS256:
		rsaKey := key.(*rsa.PrivateKey)
		return func(input []byte) ([]byte, error) {
			digest := sha256.Sum256(input)
			return rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, digest[:])
		}, nil

	case algPS256:
		// RFC 7518 section 3.5 fixes the salt length to the hash length.
		rsaKey := key.(*rsa.PrivateKey)
		pssOptions := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		return func(input []byte) ([]byte, error) {
			digest := sha256.Sum256(input)
			return rsa.SignPSS(rand.Reader, rsaKey, crypto.SHA256, digest[:], pssOptions)
		}, nil

	case algES256:
		ecKey := key.(*ecdsa.PrivateKey)
		return func(input []byte) ([]byte, error) {
			digest := sha256.Sum256(input)
			r, sv, err := ecdsa.Sign(rand.Reader, ecKey, digest[:])
			if err != nil {
				return nil, err
			}
			// JWS encodes an ES256 signature as r and s, each a 32-byte
			// big-endian integer (RFC 7518 section 3.4), not as ASN.1.
			signature := make([]byte, 64)
			r.FillBytes(signature[:32])
			sv.FillBytes(signature[32:])
			return signature, nil
		}, nil

	case algEdDSA:
		edKey := key.(ed25519.PrivateKey)
		return func(input []byte) ([]byte, error) {
			return ed25519.Sign(edKey, input), nil
		}, nil
	}
	return nil, fmt.Errorf("algorithm %q has no signing function", algorithm)
}
