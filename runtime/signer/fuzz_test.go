package signer_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/tokenwire/tokenwire/internal/setverify"
	"github.com/tokenwire/tokenwire/runtime/signer"
)

// FuzzSignClaims checks that Sign never panics, that every error it returns
// for claims wraps ErrInvalidClaims, and that every SET it returns verifies,
// follows the SET rules and carries the listener's claims unchanged.
func FuzzSignClaims(f *testing.F) {
	for _, tc := range invalidClaimsCases {
		f.Add([]byte(tc.claims))
	}
	for _, tc := range validClaimsCases {
		f.Add([]byte(tc.claims))
	}

	profiles := []signer.Profile{signer.ProfileRFC8417, signer.ProfileSSF}
	signers := make([]*signer.Signer, len(profiles))
	for i, profile := range profiles {
		signers[i] = newTestSigner(f, "EdDSA", profile)
	}
	f.Fuzz(func(t *testing.T, claims []byte) {
		for i, s := range signers {
			token, err := s.Sign(claims)
			if err != nil {
				if !errors.Is(err, signer.ErrInvalidClaims) {
					t.Fatalf("Sign(%q) error %q does not wrap ErrInvalidClaims", claims, err)
				}
				continue
			}
			checkFuzzToken(t, s, profiles[i], claims, token)
		}
	})
}

func checkFuzzToken(t *testing.T, s *signer.Signer, profile signer.Profile, claims, token []byte) {
	t.Helper()
	if !json.Valid(claims) {
		t.Fatalf("Sign accepted invalid JSON %q", claims)
	}

	_, payload, err := setverify.Verify(string(token), s.PublicJWKS())
	if err != nil {
		t.Fatalf("Sign(%q) returned a SET that does not verify: %v", claims, err)
	}
	if payload["iss"] != testIssuer {
		t.Fatalf("Sign(%q) set iss %v, expected %q", claims, payload["iss"], testIssuer)
	}
	if payload["iat"] != json.Number("1700000000") {
		t.Fatalf("Sign(%q) set iat %v, expected 1700000000", claims, payload["iat"])
	}
	if _, ok := payload["sub"]; ok && profile == signer.ProfileSSF {
		t.Fatalf("Sign under the ssf profile accepted \"sub\" in %q", claims)
	}

	// Every listener claim other than iss, iat and jti must reach the
	// payload with the same bytes. Accepted claims have no duplicate member
	// names, so decoding into a map loses nothing.
	var input, output map[string]json.RawMessage
	if err := json.Unmarshal(claims, &input); err != nil {
		t.Fatalf("decode accepted claims %q: %v", claims, err)
	}
	_, rawPayload, _, _ := splitToken(t, token)
	if err := json.Unmarshal(rawPayload, &output); err != nil {
		t.Fatalf("decode payload %s: %v", rawPayload, err)
	}
	for name, value := range input {
		switch name {
		case "iss", "iat", "jti":
			continue
		case "exp", "nonce":
			t.Fatalf("Sign accepted claims with %q: %q", name, claims)
		}
		if !bytes.Equal(bytes.TrimSpace(output[name]), bytes.TrimSpace(value)) {
			t.Fatalf("claim %q changed from %s to %s", name, value, output[name])
		}
	}
	if len(output) != len(input)+3-countHostClaims(input) {
		t.Fatalf("payload %s has %d claims for %d input claims %q", rawPayload, len(output), len(input), claims)
	}
}

// countHostClaims counts the claims that the host sets itself.
func countHostClaims(claims map[string]json.RawMessage) int {
	count := 0
	for _, name := range []string{"iss", "iat", "jti"} {
		if _, ok := claims[name]; ok {
			count++
		}
	}
	return count
}
