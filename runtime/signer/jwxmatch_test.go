package signer_test

import (
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// TestRS256MatchesJWX signs the same payload under the same protected
// header with Sign and with jwx's jws.Sign. RS256 (RSASSA-PKCS1-v1_5) is
// deterministic, so the two compact tokens must be identical byte for
// byte.
func TestRS256MatchesJWX(t *testing.T) {
	s := newTestSigner(t, "RS256", "")
	token, err := s.Sign([]byte(benchClaims))
	if err != nil {
		t.Fatal(err)
	}
	_, payload, _, _ := splitToken(t, token)
	headers := jws.NewHeaders()
	for name, value := range map[string]string{jws.KeyIDKey: s.KeyID(), jws.TypeKey: "secevent+jwt"} {
		if err := headers.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	theirs, err := jws.Sign(payload, jws.WithKey(jwa.RS256(), privateKeyFor(t, "RS256"), jws.WithProtectedHeaders(headers)))
	if err != nil {
		t.Fatal(err)
	}
	if string(theirs) != string(token) {
		t.Errorf("Sign and jwx differ for the same payload and header:\nSign %s\njwx  %s", token, theirs)
	}
}
