package signer_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/tokenwire/tokenwire/internal/setverify"
)

var algorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}

// TestSignVerifiesIndependently checks every algorithm with setverify, which
// rebuilds the public key from PublicJWKS with the standard library alone.
func TestSignVerifiesIndependently(t *testing.T) {
	for _, algorithm := range algorithms {
		t.Run(algorithm, func(t *testing.T) {
			s := newTestSigner(t, algorithm, "")
			token, err := s.Sign([]byte(`{"sub":"user-1",` + events + `}`))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}

			header, payload, err := setverify.Verify(string(token), s.PublicJWKS())
			if err != nil {
				t.Fatalf("setverify.Verify: %v", err)
			}
			checks := []struct {
				name      string
				got, want any
			}{
				{"header typ", header["typ"], "secevent+jwt"},
				{"header alg", header["alg"], algorithm},
				{"header kid", header["kid"], s.KeyID()},
				{"header members", len(header), 3},
				{"iss", payload["iss"], testIssuer},
				{"iat", payload["iat"], json.Number("1700000000")},
				{"sub", payload["sub"], "user-1"},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %v, expected %v", c.name, c.got, c.want)
				}
			}
			if jti, _ := payload["jti"].(string); len(jti) != 32 {
				t.Errorf("jti = %v, expected 32 hex digits", payload["jti"])
			}
			eventsClaim, _ := payload["events"].(map[string]any)
			if _, ok := eventsClaim["urn:example:event:a"]; !ok || len(eventsClaim) != 1 {
				t.Errorf("events = %v, expected only urn:example:event:a", payload["events"])
			}
			if _, ok := payload["exp"]; ok {
				t.Errorf("payload has exp %v", payload["exp"])
			}
		})
	}
}

// TestSignVerifiesWithStdlib verifies signatures with crypto/rsa,
// crypto/ecdsa and crypto/ed25519 directly, on keys rebuilt from PublicJWKS
// by the helpers below, so the check does not depend on setverify either.
func TestSignVerifiesWithStdlib(t *testing.T) {
	for _, algorithm := range algorithms {
		t.Run(algorithm, func(t *testing.T) {
			s := newTestSigner(t, algorithm, "")
			token, err := s.Sign([]byte(minimalClaims))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			_, _, input, signature := splitToken(t, token)
			digest := sha256Sum(input)

			switch algorithm {
			case "RS256":
				key := rsaKeyFromJWKS(t, s.PublicJWKS(), s.KeyID())
				if err := rsa.VerifyPKCS1v15(key, cryptoSHA256, digest, signature); err != nil {
					t.Errorf("rsa.VerifyPKCS1v15: %v", err)
				}
			case "PS256":
				key := rsaKeyFromJWKS(t, s.PublicJWKS(), s.KeyID())
				options := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
				if err := rsa.VerifyPSS(key, cryptoSHA256, digest, signature, options); err != nil {
					t.Errorf("rsa.VerifyPSS: %v", err)
				}
			case "ES256":
				key := ecKeyFromJWKS(t, s.PublicJWKS(), s.KeyID())
				if len(signature) != 64 {
					t.Fatalf("ES256 signature has %d bytes, expected 64", len(signature))
				}
				r := new(big.Int).SetBytes(signature[:32])
				sv := new(big.Int).SetBytes(signature[32:])
				if !ecdsa.Verify(key, digest, r, sv) {
					t.Error("ecdsa.Verify failed")
				}
			case "EdDSA":
				key := edKeyFromJWKS(t, s.PublicJWKS(), s.KeyID())
				if !ed25519.Verify(key, []byte(input), signature) {
					t.Error("ed25519.Verify failed")
				}
			}

			// A changed payload must not verify.
			tampered := []byte(input + "A")
			if algorithm == "EdDSA" && ed25519.Verify(edKeyFromJWKS(t, s.PublicJWKS(), s.KeyID()), tampered, signature) {
				t.Error("ed25519.Verify accepted a changed signing input")
			}
			if algorithm == "RS256" && rsa.VerifyPKCS1v15(rsaKeyFromJWKS(t, s.PublicJWKS(), s.KeyID()), cryptoSHA256, sha256Sum(string(tampered)), signature) == nil {
				t.Error("rsa.VerifyPKCS1v15 accepted a changed signing input")
			}
		})
	}
}

// TestSignVerifiesWithJWX checks that jwx, which receivers commonly use,
// accepts the hand-built JWS, both with the raw public key and through the
// JWK set.
func TestSignVerifiesWithJWX(t *testing.T) {
	for _, algorithm := range algorithms {
		t.Run(algorithm, func(t *testing.T) {
			s := newTestSigner(t, algorithm, "")
			token, err := s.Sign([]byte(minimalClaims))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			alg, ok := jwa.LookupSignatureAlgorithm(algorithm)
			if !ok {
				t.Fatalf("jwa has no algorithm %q", algorithm)
			}

			publicKey, err := jwk.PublicRawKeyOf(privateKeyFor(t, algorithm))
			if err != nil {
				t.Fatalf("jwk.PublicRawKeyOf: %v", err)
			}
			if _, err := jws.Verify(token, jws.WithKey(alg, publicKey)); err != nil {
				t.Errorf("jws.Verify with raw key: %v", err)
			}

			set, err := jwk.Parse(s.PublicJWKS())
			if err != nil {
				t.Fatalf("jwk.Parse(PublicJWKS): %v", err)
			}
			if _, err := jws.Verify(token, jws.WithKeySet(set)); err != nil {
				t.Errorf("jws.Verify with PublicJWKS: %v", err)
			}
		})
	}
}

// TestSignVerifiesWithOpenSSL verifies signatures with the openssl command
// line tool, using a public key rebuilt from PublicJWKS.
func TestSignVerifiesWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not on PATH")
	}

	for _, algorithm := range algorithms {
		t.Run(algorithm, func(t *testing.T) {
			s := newTestSigner(t, algorithm, "")
			token, err := s.Sign([]byte(minimalClaims))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			_, _, input, signature := splitToken(t, token)

			var publicKey any
			var args []string
			switch algorithm {
			case "RS256":
				publicKey = rsaKeyFromJWKS(t, s.PublicJWKS(), s.KeyID())
				args = []string{"dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "input"}
			case "PS256":
				publicKey = rsaKeyFromJWKS(t, s.PublicJWKS(), s.KeyID())
				args = []string{"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32",
					"-verify", "pub.pem", "-signature", "sig.bin", "input"}
			case "ES256":
				publicKey = ecKeyFromJWKS(t, s.PublicJWKS(), s.KeyID())
				// OpenSSL reads ECDSA signatures as DER, not as JWS r||s.
				signature = ecdsaDER(t, signature)
				args = []string{"dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "input"}
			case "EdDSA":
				publicKey = edKeyFromJWKS(t, s.PublicJWKS(), s.KeyID())
				args = []string{"pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "input", "-sigfile", "sig.bin"}
			}

			dir := t.TempDir()
			files := map[string][]byte{
				"pub.pem": publicPEM(t, publicKey),
				"input":   []byte(input),
				"sig.bin": signature,
			}
			for name, data := range files {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
					t.Fatalf("write %s: %v", name, err)
				}
			}

			cmd := exec.Command(openssl, args...)
			cmd.Dir = dir
			output, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, output)
			}
			if !strings.Contains(string(output), "Verified") && !strings.Contains(string(output), "Verification Successful") {
				t.Errorf("openssl %s output = %q, expected a success message", strings.Join(args, " "), output)
			}

			// OpenSSL must reject a changed signing input, or the check above
			// proves nothing.
			if err := os.WriteFile(filepath.Join(dir, "input"), []byte(input+"A"), 0o600); err != nil {
				t.Fatalf("write input: %v", err)
			}
			cmd = exec.Command(openssl, args...)
			cmd.Dir = dir
			if output, err := cmd.CombinedOutput(); err == nil {
				t.Errorf("openssl accepted a changed signing input: %s", output)
			}
		})
	}
}

// ecdsaDER converts a JWS r||s signature to the ASN.1 DER form.
func ecdsaDER(t *testing.T, signature []byte) []byte {
	t.Helper()
	der, err := asn1.Marshal(struct{ R, S *big.Int }{
		new(big.Int).SetBytes(signature[:32]),
		new(big.Int).SetBytes(signature[32:]),
	})
	if err != nil {
		t.Fatalf("marshal ECDSA signature: %v", err)
	}
	return der
}

// jwkMembersFromJWKS returns the members of the key with keyID in a JWK set,
// decoded with encoding/json. It fails the test if the key has private
// members.
func jwkMembersFromJWKS(t *testing.T, jwks []byte, keyID string) map[string]string {
	t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("decode JWK set %s: %v", jwks, err)
	}
	for _, key := range set.Keys {
		if key["kid"] != keyID {
			continue
		}
		members := make(map[string]string)
		for name, value := range key {
			text, ok := value.(string)
			if !ok {
				t.Fatalf("JWK member %q is %v, expected a string", name, value)
			}
			members[name] = text
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := members[private]; ok {
				t.Fatalf("public JWK %s contains private member %q", jwks, private)
			}
		}
		if members["use"] != "sig" {
			t.Errorf("JWK use = %q, expected \"sig\"", members["use"])
		}
		return members
	}
	t.Fatalf("JWK set %s has no key with kid %q", jwks, keyID)
	return nil
}

func decodeBase64URL(t *testing.T, member, value string) []byte {
	t.Helper()
	data, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		t.Fatalf("JWK member %q = %q is not base64url: %v", member, value, err)
	}
	return data
}

func rsaKeyFromJWKS(t *testing.T, jwks []byte, keyID string) *rsa.PublicKey {
	t.Helper()
	members := jwkMembersFromJWKS(t, jwks, keyID)
	if members["kty"] != "RSA" {
		t.Fatalf("JWK kty = %q, expected RSA", members["kty"])
	}
	n := new(big.Int).SetBytes(decodeBase64URL(t, "n", members["n"]))
	e := new(big.Int).SetBytes(decodeBase64URL(t, "e", members["e"]))
	return &rsa.PublicKey{N: n, E: int(e.Int64())}
}

func ecKeyFromJWKS(t *testing.T, jwks []byte, keyID string) *ecdsa.PublicKey {
	t.Helper()
	members := jwkMembersFromJWKS(t, jwks, keyID)
	if members["kty"] != "EC" || members["crv"] != "P-256" {
		t.Fatalf("JWK kty = %q and crv = %q, expected EC and P-256", members["kty"], members["crv"])
	}
	point := []byte{4}
	point = append(point, decodeBase64URL(t, "x", members["x"])...)
	point = append(point, decodeBase64URL(t, "y", members["y"])...)
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		t.Fatalf("JWK is not a P-256 point: %v", err)
	}
	return key
}

func edKeyFromJWKS(t *testing.T, jwks []byte, keyID string) ed25519.PublicKey {
	t.Helper()
	members := jwkMembersFromJWKS(t, jwks, keyID)
	if members["kty"] != "OKP" || members["crv"] != "Ed25519" {
		t.Fatalf("JWK kty = %q and crv = %q, expected OKP and Ed25519", members["kty"], members["crv"])
	}
	x := decodeBase64URL(t, "x", members["x"])
	if len(x) != ed25519.PublicKeySize {
		t.Fatalf("Ed25519 public key has %d bytes, expected %d", len(x), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x)
}
