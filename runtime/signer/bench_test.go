package signer_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/tokenwire/tokenwire/runtime/signer"
)

// benchClaims is a typical SET claims set of about 400 bytes.
const benchClaims = `{"aud":"https://receiver.example.com","txn":"8675309",` +
	`"sub_id":{"format":"iss_sub","iss":"https://issuer.example.com","sub":"248289761001"},` +
	`"events":{"https://schemas.openid.net/secevent/caep/event-type/session-revoked":` +
	`{"event_timestamp":1700000000,"initiating_entity":"policy","reason_admin":{"en":"Landspeed policy violation"}}}}`

// BenchmarkSign measures Sign, including the claim checks, per algorithm.
func BenchmarkSign(b *testing.B) {
	for _, algorithm := range algorithms {
		b.Run(algorithm, func(b *testing.B) {
			s := newTestSigner(b, algorithm, "")
			claims := []byte(benchClaims)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJWXSign measures jws.Sign of jwx on the payload that Sign
// produces for benchClaims, with the same protected header, for comparison.
func BenchmarkJWXSign(b *testing.B) {
	for _, algorithm := range algorithms {
		b.Run(algorithm, func(b *testing.B) {
			s := newTestSigner(b, algorithm, "")
			token, err := s.Sign([]byte(benchClaims))
			if err != nil {
				b.Fatal(err)
			}
			_, payload, _, _ := splitToken(b, token)

			alg, ok := jwa.LookupSignatureAlgorithm(algorithm)
			if !ok {
				b.Fatalf("jwa has no algorithm %q", algorithm)
			}
			headers := jws.NewHeaders()
			for name, value := range map[string]string{jws.KeyIDKey: s.KeyID(), jws.TypeKey: "secevent+jwt"} {
				if err := headers.Set(name, value); err != nil {
					b.Fatal(err)
				}
			}
			key := privateKeyFor(b, algorithm)

			b.ReportAllocs()
			for b.Loop() {
				if _, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(headers))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawRS256 is the floor for Sign/RS256: SHA-256 and
// rsa.SignPKCS1v15 of the signing input Sign produces for benchClaims,
// with the same key, and nothing else.
func BenchmarkRawRS256(b *testing.B) {
	_, rawSign := rawRS256(b)
	b.ReportAllocs()
	for b.Loop() {
		rawSign()
	}
}

// rawRS256 returns an RS256 signer and a function that signs, with
// SHA-256 and rsa.SignPKCS1v15 alone, the signing input the signer
// produces for benchClaims, with the same key.
func rawRS256(b *testing.B) (s *signer.Signer, rawSign func()) {
	s = newTestSigner(b, "RS256", "")
	token, err := s.Sign([]byte(benchClaims))
	if err != nil {
		b.Fatal(err)
	}
	_, _, input, _ := splitToken(b, token)
	key := privateKeyFor(b, "RS256").(*rsa.PrivateKey)
	return s, func() {
		digest := sha256.Sum256([]byte(input))
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRS256VersusRaw alternates Sign and the raw crypto/rsa call of
// BenchmarkRawRS256, one of each per iteration, and reports the time of
// each and raw/sign, the share of raw crypto/rsa throughput that Sign
// reaches. Taking turns every millisecond keeps a drift in the machine's
// speed out of the ratio, which on a shared VM moves the two separate
// benchmarks by up to 10% from run to run.
func BenchmarkRS256VersusRaw(b *testing.B) {
	s, rawSign := rawRS256(b)
	claims := []byte(benchClaims)

	var signTime, rawTime time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := s.Sign(claims); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		rawSign()
		signTime += mid.Sub(start)
		rawTime += time.Since(mid)
	}
	b.ReportMetric(float64(signTime.Nanoseconds())/float64(b.N), "sign-ns/op")
	b.ReportMetric(float64(rawTime.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(rawTime)/float64(signTime), "raw/sign")
}
