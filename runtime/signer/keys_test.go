package signer_test

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwire/tokenwire/internal/setverify"
	"github.com/tokenwire/tokenwire/runtime/signer"
)

func TestLoadFileKeyForms(t *testing.T) {
	testKeys(t)
	ecParams := encodePEM("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})

	tests := []struct {
		name      string
		data      func(t *testing.T) []byte
		keyID     string
		algorithm string
		wantAlg   string
		wantKeyID string // empty means the RFC 7638 thumbprint
	}{
		{"JWK set RSA", func(t *testing.T) []byte {
			return jwkSetJSON(t, jwkObject(t, rsaKey, map[string]any{"kid": "rsa-1"}))
		}, "", "", "RS256", "rsa-1"},
		{"JWK set selected", func(t *testing.T) []byte {
			return jwkSetJSON(t,
				jwkObject(t, rsaKey2, map[string]any{"kid": "old"}),
				jwkObject(t, ecKey, map[string]any{"kid": "current"}),
				jwkObject(t, &rsaKey.PublicKey, map[string]any{"kid": "public"}))
		}, "current", "", "ES256", "current"},
		{"JWK set lone key without kid", func(t *testing.T) []byte {
			return jwkSetJSON(t, jwkObject(t, edKey, nil))
		}, "named", "", "EdDSA", "named"},
		{"single JWK RSA", func(t *testing.T) []byte { return jwkJSON(t, rsaKey, map[string]any{"kid": "r"}) }, "", "", "RS256", "r"},
		{"single JWK RSA PS256", func(t *testing.T) []byte { return jwkJSON(t, rsaKey, nil) }, "", "PS256", "PS256", ""},
		{"single JWK alg PS256", func(t *testing.T) []byte {
			return jwkJSON(t, rsaKey, map[string]any{"alg": "PS256", "use": "sig", "key_ops": []string{"sign", "verify"}})
		}, "", "", "PS256", ""},
		{"single JWK EC", func(t *testing.T) []byte { return jwkJSON(t, ecKey, nil) }, "", "", "ES256", ""},
		{"single JWK Ed25519", func(t *testing.T) []byte { return jwkJSON(t, edKey, nil) }, "", "", "EdDSA", ""},
		{"PEM PKCS1 RSA", func(t *testing.T) []byte {
			return encodePEM("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
		}, "", "", "RS256", ""},
		{"PEM PKCS1 RSA PS256", func(t *testing.T) []byte {
			return encodePEM("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
		}, "pem-kid", "PS256", "PS256", "pem-kid"},
		{"PEM PKCS8 RSA", func(t *testing.T) []byte { return pkcs8PEM(t, rsaKey) }, "", "RS256", "RS256", ""},
		{"PEM PKCS8 EC", func(t *testing.T) []byte { return pkcs8PEM(t, ecKey) }, "", "", "ES256", ""},
		{"PEM SEC1 EC", func(t *testing.T) []byte { return sec1PEM(t, ecKey) }, "", "ES256", "ES256", ""},
		{"PEM SEC1 EC with parameters", func(t *testing.T) []byte {
			return append(ecParams, sec1PEM(t, ecKey)...)
		}, "", "", "ES256", ""},
		{"PEM PKCS8 Ed25519", func(t *testing.T) []byte { return pkcs8PEM(t, edKey) }, "ed-1", "EdDSA", "EdDSA", "ed-1"},
		{"PEM with text around", func(t *testing.T) []byte {
			return []byte("Private-Key: see below\n" + string(pkcs8PEM(t, edKey)) + "\ntrailing text\n")
		}, "", "", "EdDSA", ""},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTempFile(t, "key", tc.data(t))
			s, err := signer.LoadFile(path, signer.Options{
				Issuer:    testIssuer,
				KeyID:     tc.keyID,
				Algorithm: tc.algorithm,
				Now:       fixedNow,
			})
			if err != nil {
				t.Fatalf("LoadFile: %v", err)
			}
			if s.Algorithm() != tc.wantAlg {
				t.Errorf("Algorithm() = %q, expected %q", s.Algorithm(), tc.wantAlg)
			}

			wantKeyID := tc.wantKeyID
			if wantKeyID == "" {
				wantKeyID = thumbprintFromJWKS(t, s.PublicJWKS())
			}
			if s.KeyID() != wantKeyID {
				t.Errorf("KeyID() = %q, expected %q", s.KeyID(), wantKeyID)
			}

			token, err := s.Sign([]byte(minimalClaims))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			header, _, err := setverify.Verify(string(token), s.PublicJWKS())
			if err != nil {
				t.Fatalf("setverify.Verify: %v", err)
			}
			if header["alg"] != tc.wantAlg {
				t.Errorf("header alg = %v, expected %q", header["alg"], tc.wantAlg)
			}
			if header["kid"] != wantKeyID {
				t.Errorf("header kid = %v, expected %q", header["kid"], wantKeyID)
			}
		})
	}
}

// thumbprintFromJWKS computes the RFC 7638 SHA-256 thumbprint of the only
// key in a JWK set with encoding/json, independent of the signer's library.
func thumbprintFromJWKS(t *testing.T, jwks []byte) string {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("decode JWK set %s: %v", jwks, err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("JWK set %s has %d keys, expected 1", jwks, len(set.Keys))
	}
	key := set.Keys[0]

	// The required members in lexicographic order, without white space.
	var canonical string
	switch key["kty"] {
	case "RSA":
		canonical = `{"e":"` + key["e"] + `","kty":"RSA","n":"` + key["n"] + `"}`
	case "EC":
		canonical = `{"crv":"` + key["crv"] + `","kty":"EC","x":"` + key["x"] + `","y":"` + key["y"] + `"}`
	case "OKP":
		canonical = `{"crv":"` + key["crv"] + `","kty":"OKP","x":"` + key["x"] + `"}`
	default:
		t.Fatalf("JWK set %s has unknown kty %q", jwks, key["kty"])
	}
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestParseKeyErrors(t *testing.T) {
	testKeys(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatalf("generate P-384 key: %v", err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate X25519 key: %v", err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatalf("generate RSA 1024 key: %v", err)
	}

	// An EC JWK whose private scalar belongs to another key.
	mismatched := jwkObject(t, ecKey, nil)
	other := jwkObject(t, ecKey2, nil)
	mismatched["x"], mismatched["y"] = other["x"], other["y"]

	tests := []struct {
		name    string
		data    func(t *testing.T) []byte
		opts    signer.Options
		wantErr string
	}{
		{"empty file", func(*testing.T) []byte { return nil }, signer.Options{}, "key data is empty"},
		{"not a key", func(*testing.T) []byte { return []byte("hello world\n") }, signer.Options{}, "no key found: the data is neither JSON (a JWK or JWK set) nor PEM: provide a JWK, a JWK set or a PEM private key"},
		{"invalid JSON", func(*testing.T) []byte { return []byte(`{"kty":`) }, signer.Options{}, "invalid JWK or JWK set"},
		{"JSON not a JWK", func(*testing.T) []byte { return []byte(`{"hello":"world"}`) }, signer.Options{}, "invalid JWK or JWK set"},
		{"empty JWK set", func(*testing.T) []byte { return []byte(`{"keys":[]}`) }, signer.Options{}, "JWK set contains no keys"},
		{"PEM public key only", func(t *testing.T) []byte { return publicPEM(t, &rsaKey.PublicKey) }, signer.Options{},
			`PEM data contains only a public key ("PUBLIC KEY" block): the signer needs the private key`},
		{"JWK public key only", func(t *testing.T) []byte { return jwkJSON(t, &ecKey.PublicKey, nil) }, signer.Options{},
			"key is a public key only: the signer needs the private key"},
		{"JWK set public key only", func(t *testing.T) []byte { return jwkSetJSON(t, jwkObject(t, edKey.Public(), nil)) }, signer.Options{},
			"key is a public key only"},
		{"RSA 1024 bits JWK", func(t *testing.T) []byte { return rsaJWKByHand(t, rsa1024) }, signer.Options{}, "2048"},
		{"P-384 PEM", func(t *testing.T) []byte { return pkcs8PEM(t, p384) }, signer.Options{},
			"EC curve P-384 is not supported: supported keys are RSA (RS256, PS256), EC P-256 (ES256) and Ed25519 (EdDSA)"},
		{"P-384 JWK", func(t *testing.T) []byte { return jwkJSON(t, p384, nil) }, signer.Options{}, "EC curve P-384 is not supported"},
		{"X25519 PEM", func(t *testing.T) []byte { return pkcs8PEM(t, x25519) }, signer.Options{}, "X25519 key is for key agreement, not signatures"},
		{"symmetric JWK", func(*testing.T) []byte { return []byte(`{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}`) }, signer.Options{},
			`symmetric ("oct") key is not supported`},
		{"RSA 1024 bits", func(t *testing.T) []byte { return pkcs8PEM(t, rsa1024) }, signer.Options{}, "RSA key has 1024 bits: use a key of at least 2048 bits"},
		{"several keys without key ID", func(t *testing.T) []byte {
			return jwkSetJSON(t, jwkObject(t, rsaKey, map[string]any{"kid": "a"}), jwkObject(t, ecKey, map[string]any{"kid": "b"}), jwkObject(t, edKey, nil))
		}, signer.Options{}, `JWK set contains 3 keys with key IDs "a", "b", (none): set the key ID to choose one`},
		{"key ID not in set", func(t *testing.T) []byte {
			return jwkSetJSON(t, jwkObject(t, rsaKey, map[string]any{"kid": "a"}), jwkObject(t, ecKey, map[string]any{"kid": "b"}))
		}, signer.Options{KeyID: "c"}, `no key with key ID "c": the key IDs are "a", "b"`},
		{"key ID differs from lone JWK", func(t *testing.T) []byte { return jwkJSON(t, rsaKey, map[string]any{"kid": "a"}) },
			signer.Options{KeyID: "b"}, `no key with key ID "b": the key IDs are "a"`},
		{"ES256 for RSA key", func(t *testing.T) []byte { return pkcs8PEM(t, rsaKey) }, signer.Options{Algorithm: "ES256"},
			"algorithm ES256 does not fit an RSA key: use RS256 or PS256"},
		{"RS384 for RSA key", func(t *testing.T) []byte { return pkcs8PEM(t, rsaKey) }, signer.Options{Algorithm: "RS384"},
			"algorithm RS384 does not fit an RSA key: use RS256 or PS256"},
		{"RS256 for EC key", func(t *testing.T) []byte { return sec1PEM(t, ecKey) }, signer.Options{Algorithm: "RS256"},
			"algorithm RS256 does not fit an EC P-256 key: use ES256"},
		{"ES256 for Ed25519 key", func(t *testing.T) []byte { return pkcs8PEM(t, edKey) }, signer.Options{Algorithm: "ES256"},
			"algorithm ES256 does not fit an Ed25519 key: use EdDSA"},
		{"JWK alg unfit", func(t *testing.T) []byte { return jwkJSON(t, ecKey, map[string]any{"alg": "ES384"}) }, signer.Options{},
			"algorithm ES384 does not fit an EC P-256 key: use ES256"},
		{"JWK alg differs", func(t *testing.T) []byte { return jwkJSON(t, rsaKey, map[string]any{"alg": "RS256"}) },
			signer.Options{Algorithm: "PS256"}, `algorithm PS256 differs from the key's JWK "alg" RS256`},
		{"JWK use enc", func(t *testing.T) []byte { return jwkJSON(t, rsaKey, map[string]any{"use": "enc"}) }, signer.Options{},
			`key has JWK "use" "enc": a signing key needs "sig" or no "use"`},
		{"JWK key_ops without sign", func(t *testing.T) []byte { return jwkJSON(t, rsaKey, map[string]any{"key_ops": []string{"verify"}}) },
			signer.Options{}, `key has JWK "key_ops" [verify] without "sign"`},
		{"JWK mismatched EC parts", func(t *testing.T) []byte { return mustMarshal(t, mismatched) }, signer.Options{}, "EC"},
		{"two PEM private keys", func(t *testing.T) []byte { return append(pkcs8PEM(t, edKey), pkcs8PEM(t, ecKey)...) }, signer.Options{},
			"PEM data contains 2 private keys"},
		{"encrypted PEM", func(*testing.T) []byte { return encodePEM("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00}) }, signer.Options{},
			"PEM private key is encrypted: decrypt it first"},
		{"OpenSSH PEM", func(*testing.T) []byte { return encodePEM("OPENSSH PRIVATE KEY", []byte("x")) }, signer.Options{},
			`unsupported PEM block "OPENSSH PRIVATE KEY"`},
		{"corrupt PKCS1", func(*testing.T) []byte { return encodePEM("RSA PRIVATE KEY", []byte("not DER")) }, signer.Options{},
			`invalid PEM "RSA PRIVATE KEY" block`},
		{"PKCS1 block with PKCS8 body", func(t *testing.T) []byte {
			der, _ := x509.MarshalPKCS8PrivateKey(edKey)
			return encodePEM("RSA PRIVATE KEY", der)
		}, signer.Options{}, `invalid PEM "RSA PRIVATE KEY" block`},
		{"broken PEM armor", func(*testing.T) []byte { return []byte("-----BEGIN PRIVATE KEY-----\nabc\n") }, signer.Options{},
			"PEM data contains no PEM block"},
		{"missing issuer", func(t *testing.T) []byte { return pkcs8PEM(t, edKey) }, signer.Options{Issuer: "-"},
			"issuer is missing"},
		{"issuer invalid UTF-8", func(t *testing.T) []byte { return pkcs8PEM(t, edKey) }, signer.Options{Issuer: "https://\xff"},
			"is not valid UTF-8"},
		{"unknown profile", func(t *testing.T) []byte { return pkcs8PEM(t, edKey) }, signer.Options{Profile: "RFC8417"},
			`unknown SET profile "RFC8417": use "rfc8417" or "ssf"`},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			switch opts.Issuer {
			case "":
				opts.Issuer = testIssuer
			case "-":
				opts.Issuer = ""
			}
			path := writeTempFile(t, "signing-key.pem", tc.data(t))

			s, err := signer.LoadFile(path, opts)
			if err == nil {
				t.Fatalf("LoadFile succeeded with key ID %q and algorithm %q, expected an error containing %q", s.KeyID(), s.Algorithm(), tc.wantErr)
			}
			t.Logf("LoadFile error: %v", err)
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("LoadFile error = %q, expected it to contain %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("LoadFile error = %q, expected it to name the file %s", err, path)
			}
			if errors.Is(err, signer.ErrInvalidClaims) {
				t.Errorf("LoadFile error %q wraps ErrInvalidClaims", err)
			}
		})
	}
}

func TestLoadFileNotFound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.pem")
	_, err := signer.LoadFile(path, signer.Options{Issuer: testIssuer})
	if err == nil {
		t.Fatal("LoadFile of a missing file succeeded")
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile error %q does not wrap os.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("LoadFile error = %q, expected it to name the file %s", err, path)
	}
}

func TestEphemeral(t *testing.T) {
	tests := []struct {
		name      string
		opts      signer.Options
		wantAlg   string
		wantKeyID string // empty means the RFC 7638 thumbprint
	}{
		{"default", signer.Options{Issuer: testIssuer}, "RS256", ""},
		{"PS256", signer.Options{Issuer: testIssuer, Algorithm: "PS256"}, "PS256", ""},
		{"key ID", signer.Options{Issuer: testIssuer, KeyID: "dev"}, "RS256", "dev"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := signer.Ephemeral(tc.opts)
			if err != nil {
				t.Fatalf("Ephemeral: %v", err)
			}
			if s.Algorithm() != tc.wantAlg {
				t.Errorf("Algorithm() = %q, expected %q", s.Algorithm(), tc.wantAlg)
			}
			wantKeyID := tc.wantKeyID
			if wantKeyID == "" {
				wantKeyID = thumbprintFromJWKS(t, s.PublicJWKS())
			}
			if s.KeyID() != wantKeyID {
				t.Errorf("KeyID() = %q, expected %q", s.KeyID(), wantKeyID)
			}

			publicKey := rsaKeyFromJWKS(t, s.PublicJWKS(), s.KeyID())
			if bits := publicKey.N.BitLen(); bits != 2048 {
				t.Errorf("ephemeral key has %d bits, expected 2048", bits)
			}
			token, err := s.Sign([]byte(minimalClaims))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if _, _, err := setverify.Verify(string(token), s.PublicJWKS()); err != nil {
				t.Errorf("setverify.Verify: %v", err)
			}
		})
	}
}

func TestEphemeralErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    signer.Options
		wantErr string
	}{
		{"ES256", signer.Options{Issuer: testIssuer, Algorithm: "ES256"}, "algorithm ES256 does not fit an RSA key"},
		{"missing issuer", signer.Options{}, "issuer is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := signer.Ephemeral(tc.opts)
			if err == nil {
				t.Fatalf("Ephemeral succeeded, expected an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Ephemeral error = %q, expected it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// rsaJWKByHand encodes an RSA private key as a JWK without jwx, which
// refuses to import keys below 2048 bits.
func rsaJWKByHand(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	key.Precompute()
	encode := func(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.Bytes()) }
	return mustMarshal(t, map[string]string{
		"kty": "RSA",
		"n":   encode(key.N),
		"e":   encode(big.NewInt(int64(key.E))),
		"d":   encode(key.D),
		"p":   encode(key.Primes[0]),
		"q":   encode(key.Primes[1]),
		"dp":  encode(key.Precomputed.Dp),
		"dq":  encode(key.Precomputed.Dq),
		"qi":  encode(key.Precomputed.Qinv),
	})
}
