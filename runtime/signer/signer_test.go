package signer_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tokenwire/tokenwire/internal/setverify"
	"github.com/tokenwire/tokenwire/runtime/signer"
)

func TestSignUniqueJTI(t *testing.T) {
	s := newTestSigner(t, "EdDSA", "")
	const count = 5000
	seen := make(map[string]bool, count)
	for i := range count {
		token, err := s.Sign([]byte(minimalClaims))
		if err != nil {
			t.Fatalf("Sign %d: %v", i, err)
		}
		_, payload, err := setverify.Verify(string(token), s.PublicJWKS())
		if err != nil {
			t.Fatalf("setverify.Verify %d: %v", i, err)
		}
		jti, _ := payload["jti"].(string)
		if decoded, err := hex.DecodeString(jti); err != nil || len(decoded) != 16 {
			t.Fatalf("jti = %q, expected 32 hex digits", jti)
		}
		if seen[jti] {
			t.Fatalf("jti %q repeated after %d signs", jti, i)
		}
		seen[jti] = true
	}
}

func TestSignIssuedAtFromClock(t *testing.T) {
	clock := time.Unix(1800000000, 999999999)
	s, err := signer.Parse(pkcs8PEM(t, privateKeyFor(t, "EdDSA")), signer.Options{
		Issuer: testIssuer,
		Now:    func() time.Time { return clock },
	})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}

	for _, step := range []time.Duration{0, time.Second, time.Hour} {
		clock = clock.Add(step)
		token, err := s.Sign([]byte(`{"iat":1,` + events + `}`))
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		_, payload, err := setverify.Verify(string(token), s.PublicJWKS())
		if err != nil {
			t.Fatalf("setverify.Verify: %v", err)
		}
		want := json.Number(strings.TrimSpace(string(mustMarshal(t, clock.Unix()))))
		if payload["iat"] != want {
			t.Errorf("iat = %v, expected %v (clock %v)", payload["iat"], want, clock)
		}
	}
}

func TestSignDefaultClock(t *testing.T) {
	s, err := signer.Parse(pkcs8PEM(t, privateKeyFor(t, "EdDSA")), signer.Options{Issuer: testIssuer})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	before := time.Now().Unix()
	token, err := s.Sign([]byte(minimalClaims))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	after := time.Now().Unix()

	_, payload, err := setverify.Verify(string(token), s.PublicJWKS())
	if err != nil {
		t.Fatalf("setverify.Verify: %v", err)
	}
	iat, err := payload["iat"].(json.Number).Int64()
	if err != nil || iat < before || iat > after {
		t.Errorf("iat = %v, expected between %d and %d", payload["iat"], before, after)
	}
}

func TestSignRandomJTI(t *testing.T) {
	random := bytes.NewReader(bytes.Repeat([]byte{0xab, 0x01}, 16))
	s, err := signer.Parse(pkcs8PEM(t, privateKeyFor(t, "ES256")), signer.Options{Issuer: testIssuer, Random: random, Now: fixedNow})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}

	for i := range 2 {
		token, err := s.Sign([]byte(minimalClaims))
		if err != nil {
			t.Fatalf("Sign %d: %v", i, err)
		}
		_, payload, err := setverify.Verify(string(token), s.PublicJWKS())
		if err != nil {
			t.Fatalf("setverify.Verify: %v", err)
		}
		if want := strings.Repeat("ab01", 8); payload["jti"] != want {
			t.Errorf("jti = %v, expected %s", payload["jti"], want)
		}
	}

	// The reader is used up now, so the next Sign fails as a host error.
	_, err = s.Sign([]byte(minimalClaims))
	if err == nil {
		t.Fatal("Sign with an exhausted random source succeeded")
	}
	if errors.Is(err, signer.ErrInvalidClaims) {
		t.Errorf("Sign error %q wraps ErrInvalidClaims, expected a host error", err)
	}
	if !strings.Contains(err.Error(), `read random bits for "jti"`) {
		t.Errorf("Sign error = %q, expected it to name the jti random source", err)
	}
}

func TestSignRandomError(t *testing.T) {
	failure := errors.New("entropy source failed")
	s, err := signer.Parse(pkcs8PEM(t, privateKeyFor(t, "EdDSA")), signer.Options{Issuer: testIssuer, Random: iotest.ErrReader(failure)})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	_, err = s.Sign([]byte(minimalClaims))
	if !errors.Is(err, failure) {
		t.Errorf("Sign error = %v, expected it to wrap %v", err, failure)
	}
}

// TestSignConcurrent runs Sign from several goroutines with a random source
// that is not safe for concurrent use. Run it with -race.
func TestSignConcurrent(t *testing.T) {
	random := bytes.NewReader(make([]byte, 16*4*50))
	for _, algorithm := range algorithms {
		t.Run(algorithm, func(t *testing.T) {
			s, err := signer.Parse(pkcs8PEM(t, privateKeyFor(t, algorithm)), signer.Options{
				Issuer: testIssuer, Algorithm: algorithm, Random: random,
			})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 50)
			for range 5 {
				wg.Go(func() {
					for range 10 {
						token, err := s.Sign([]byte(minimalClaims))
						if err == nil {
							_, _, err = setverify.Verify(string(token), s.PublicJWKS())
						}
						if err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestPublicJWKS(t *testing.T) {
	for _, algorithm := range algorithms {
		t.Run(algorithm, func(t *testing.T) {
			s := newTestSigner(t, algorithm, "")
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(s.PublicJWKS(), &set); err != nil {
				t.Fatalf("decode PublicJWKS %s: %v", s.PublicJWKS(), err)
			}
			if len(set.Keys) != 1 {
				t.Fatalf("PublicJWKS has %d keys, expected 1", len(set.Keys))
			}
			key := set.Keys[0]
			if key["kid"] != s.KeyID() {
				t.Errorf("kid = %v, expected %q", key["kid"], s.KeyID())
			}
			if key["alg"] != algorithm {
				t.Errorf("alg = %v, expected %q", key["alg"], algorithm)
			}
			if key["use"] != "sig" {
				t.Errorf("use = %v, expected \"sig\"", key["use"])
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := key[private]; ok {
					t.Errorf("public JWK contains private member %q", private)
				}
			}
		})
	}
}

// TestPublicJWKSDropsSourceMembers checks that members of the source JWK
// other than the key itself, such as key_ops, do not reach the JWK set.
func TestPublicJWKSDropsSourceMembers(t *testing.T) {
	data := jwkJSON(t, privateKeyFor(t, "ES256"), map[string]any{"kid": "k1", "key_ops": []string{"sign"}, "x-note": "internal"})
	s, err := signer.Parse(data, signer.Options{Issuer: testIssuer})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	jwks := string(s.PublicJWKS())
	for _, member := range []string{"key_ops", "x-note", "internal"} {
		if strings.Contains(jwks, member) {
			t.Errorf("PublicJWKS %s contains %q", jwks, member)
		}
	}
}

func TestJWKS(t *testing.T) {
	rs := newTestSigner(t, "RS256", "")
	es := newTestSigner(t, "ES256", "")
	ed := newTestSigner(t, "EdDSA", "")

	jwks, err := signer.JWKS(rs, nil, es, ed, rs)
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("decode JWKS %s: %v", jwks, err)
	}
	wantKeyIDs := []string{rs.KeyID(), es.KeyID(), ed.KeyID()}
	if len(set.Keys) != len(wantKeyIDs) {
		t.Fatalf("JWKS has %d keys, expected %d: %s", len(set.Keys), len(wantKeyIDs), jwks)
	}
	for i, want := range wantKeyIDs {
		if set.Keys[i]["kid"] != want {
			t.Errorf("key %d kid = %v, expected %q", i, set.Keys[i]["kid"], want)
		}
	}

	// A SET from each signer verifies against the combined set.
	for _, s := range []*signer.Signer{rs, es, ed} {
		token, err := s.Sign([]byte(minimalClaims))
		if err != nil {
			t.Fatalf("Sign %s: %v", s.Algorithm(), err)
		}
		if _, _, err := setverify.Verify(string(token), jwks); err != nil {
			t.Errorf("setverify.Verify %s against JWKS: %v", s.Algorithm(), err)
		}
	}
}

func TestJWKSEmpty(t *testing.T) {
	jwks, err := signer.JWKS()
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	if string(jwks) != `{"keys":[]}` {
		t.Errorf("JWKS() = %s, expected {\"keys\":[]}", jwks)
	}
}

func TestJWKSDuplicateKeyID(t *testing.T) {
	testKeys(t)
	first, err := signer.Parse(pkcs8PEM(t, rsaKey), signer.Options{Issuer: testIssuer, KeyID: "same"})
	if err != nil {
		t.Fatalf("Parse first key: %v", err)
	}
	second, err := signer.Parse(pkcs8PEM(t, rsaKey2), signer.Options{Issuer: testIssuer, KeyID: "same"})
	if err != nil {
		t.Fatalf("Parse second key: %v", err)
	}

	_, err = signer.JWKS(first, second)
	if err == nil {
		t.Fatal("JWKS of two keys with one key ID succeeded")
	}
	if !strings.Contains(err.Error(), `key ID "same" is used by two different keys`) {
		t.Errorf("JWKS error = %q, expected it to name the key ID", err)
	}
}
