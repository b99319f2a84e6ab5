package signer_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tokenwire/tokenwire/internal/setverify"
	"github.com/tokenwire/tokenwire/runtime/signer"
)

const (
	eventA = `"urn:example:event:a":{}`
	events = `"events":{` + eventA + `}`
)

// invalidClaimsCases break one SET rule each. FuzzSignClaims uses them as
// seeds.
var invalidClaimsCases = []struct {
	name    string
	profile signer.Profile
	claims  string
	wantErr string // a substring of the error message
}{
	{"not JSON", "", `not json`, "invalid JSON in claims"},
	{"empty input", "", ``, "empty input"},
	{"white space only", "", " \n\t", "empty input"},
	{"JSON array", "", `[{` + events + `}]`, "claims must be a JSON object, not an array"},
	{"JSON string", "", `"claims"`, "claims must be a JSON object, not a string"},
	{"JSON null", "", `null`, "claims must be a JSON object, not null"},
	{"JSON number", "", `12`, "claims must be a JSON object, not a number"},
	{"truncated object", "", `{` + events, "invalid JSON in claims"},
	{"trailing comma", "", `{` + events + `,}`, "invalid JSON in claims"},
	{"second object", "", `{` + events + `}{}`, "claims must be one JSON object, but an object follows it"},
	{"trailing garbage", "", `{` + events + `} x`, "invalid JSON after the object in claims"},
	{"invalid UTF-8", "", `{` + events + `,"name":"` + "\xff" + `"}`, "not valid UTF-8"},
	{"invalid value", "", `{` + events + `,"a":tru}`, "invalid JSON in claims"},

	{"missing events", "", `{"sub_id":{"format":"opaque","id":"x"}}`, `claim "events" is missing`},
	{"events array", "", `{"events":[{}]}`, `claim "events" must be a JSON object that maps event type URIs to event objects, not an array`},
	{"events string", "", `{"events":"urn:example:event:a"}`, `claim "events" must be a JSON object`},
	{"events null", "", `{"events":null}`, `claim "events" must be a JSON object that maps event type URIs to event objects, not null`},
	{"empty events", "", `{"events":{}}`, `claim "events" is an empty object`},
	{"event type not URI", "", `{"events":{"login":{}}}`, `event type "login" in claim "events" is not an absolute URI`},
	{"event type relative", "", `{"events":{"/events/login":{}}}`, `event type "/events/login"`},
	{"event type empty", "", `{"events":{"":{}}}`, `event type "" in claim "events" is not an absolute URI`},
	{"event type unparsable", "", `{"events":{" https://x":{}}}`, `event type " https://x"`},
	{"event value string", "", `{"events":{"urn:example:event:a":"x"}}`, `event "urn:example:event:a" in claim "events" must be a JSON object, not a string`},
	{"event value array", "", `{"events":{"urn:example:event:a":[]}}`, `must be a JSON object, not an array`},
	{"event value null", "", `{"events":{"urn:example:event:a":null}}`, `must be a JSON object, not null`},
	{"second event not object", "", `{"events":{"urn:example:event:a":{},"urn:example:event:b":1}}`, `event "urn:example:event:b" in claim "events" must be a JSON object, not a number`},
	{"repeated event not object", "", `{"events":{"urn:example:event:a":{},"urn:example:event:a":true}}`, `event "urn:example:event:a" in claim "events" must be a JSON object, not a boolean`},

	{"forged iss", "", `{"iss":"https://attacker.example",` + events + `}`, `claim "iss" is "https://attacker.example" but this signer's issuer is "https://issuer.example.com"`},
	{"iss not string", "", `{"iss":1,` + events + `}`, `claim "iss" must be a JSON string`},
	{"iss null", "", `{"iss":null,` + events + `}`, `claim "iss" must be a JSON string`},
	{"exp", "", `{"exp":1700000600,` + events + `}`, `claims must not contain "exp": a SET carries no expiry`},
	{"exp null", "", `{` + events + `,"exp":null}`, `claims must not contain "exp"`},
	{"exp escaped name", "", `{` + events + `,"\u0065xp":1}`, `claims must not contain "exp"`},
	{"nonce", "", `{"nonce":"n-0S6_WzA2Mj",` + events + `}`, `claims must not contain "nonce"`},
	{"sub under SSF", signer.ProfileSSF, `{"sub":"user-1",` + events + `}`, `claims must not contain "sub" under the ssf profile: put the subject in "sub_id"`},

	{"duplicate iss", "", `{"iss":"https://issuer.example.com","iss":"https://attacker.example",` + events + `}`, `claims contain "iss" more than once`},
	{"duplicate escaped iss", "", `{"iss":"https://issuer.example.com","\u0069ss":"https://attacker.example",` + events + `}`, `claims contain "iss" more than once`},
	{"duplicate events", "", `{` + events + `,"events":{"urn:example:event:b":{}}}`, `claims contain "events" more than once`},
	{"duplicate other claim", "", `{"txn":"a",` + events + `,"txn":"b"}`, `claims contain "txn" more than once`},
	{"duplicate jti", "", `{"jti":"a",` + events + `,"jti":"b"}`, `claims contain "jti" more than once`},
}

func TestSignRejectsInvalidClaims(t *testing.T) {
	signers := map[signer.Profile]*signer.Signer{
		"":                newTestSigner(t, "EdDSA", ""),
		signer.ProfileSSF: newTestSigner(t, "EdDSA", signer.ProfileSSF),
	}
	for _, tc := range invalidClaimsCases {
		t.Run(tc.name, func(t *testing.T) {
			token, err := signers[tc.profile].Sign([]byte(tc.claims))
			if err == nil {
				t.Fatalf("Sign(%q) = %q, expected an error containing %q", tc.claims, token, tc.wantErr)
			}
			if !errors.Is(err, signer.ErrInvalidClaims) {
				t.Errorf("Sign(%q) error %q does not wrap ErrInvalidClaims", tc.claims, err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Sign(%q) error = %q, expected it to contain %q", tc.claims, err, tc.wantErr)
			}
			if token != nil {
				t.Errorf("Sign(%q) returned a token with its error: %q", tc.claims, token)
			}
		})
	}
}

// validClaimsCases pass the SET rules. Each wantRaw string must appear in the
// payload exactly as written. FuzzSignClaims uses them as seeds.
var validClaimsCases = []struct {
	name    string
	profile signer.Profile
	claims  string
	wantRaw []string
}{
	{"minimal", "", minimalClaims, []string{`"events":{"https://schemas.openid.net/secevent/risc/event-type/account-disabled":{}}`}},
	{"urn event type", "", `{` + events + `}`, []string{`"events":{"urn:example:event:a":{}}`}},
	{"several events", "", `{"events":{"urn:example:event:a":{},"https://example.com/b":{"reason":"x"}}}`,
		[]string{`"events":{"urn:example:event:a":{},"https://example.com/b":{"reason":"x"}}`}},
	{"iss equal to issuer", "", `{"iss":"https://issuer.example.com",` + events + `}`, nil},
	{"iss escaped equal", "", `{"iss":"https:\/\/issuer.example.com",` + events + `}`, nil},
	{"sub under RFC8417", signer.ProfileRFC8417, `{"sub":"user-1",` + events + `}`, []string{`"sub":"user-1"`}},
	{"sub under default", "", `{"sub":"user-1",` + events + `}`, []string{`"sub":"user-1"`}},
	{"sub_id under SSF", signer.ProfileSSF, `{"sub_id":{"format":"email","email":"user@example.com"},` + events + `}`,
		[]string{`"sub_id":{"format":"email","email":"user@example.com"}`}},
	{"big integer", "", `{"n":123456789012345678901234567890,` + events + `}`, []string{`"n":123456789012345678901234567890`}},
	{"precise decimal", "", `{"f":1.50000000000000000001e3,` + events + `}`, []string{`"f":1.50000000000000000001e3`}},
	{"nested white space", "", `{"ctx": {"b" : 1,  "a":[ 2, 3 ]} ,` + events + `}`, []string{`"ctx":{"b" : 1,  "a":[ 2, 3 ]}`}},
	{"escapes kept", "", `{"s":"\u00e9\n<&>\/",` + events + `}`, []string{`"s":"\u00e9\n<&>\/"`}},
	{"event fields kept", "", `{"events":{"urn:example:event:a":{"n":98765432109876543210,"at":"x"}}}`,
		[]string{`"events":{"urn:example:event:a":{"n":98765432109876543210,"at":"x"}}`}},
	{"iat and jti replaced", "", `{"iat":1,"jti":"listener-jti",` + events + `}`, nil},
	{"non-ASCII claim name", "", `{"caf\u00e9":1,"naïve":2,` + events + `}`, []string{`"café":1`, `"naïve":2`}},
	{"claim named like header", "", `{"alg":"none","typ":"JWT",` + events + `}`, []string{`"alg":"none"`, `"typ":"JWT"`}},
	{"surrounding white space", "", " \n{" + events + "}\n ", nil},
	{"duplicate inside event", "", `{"events":{"urn:example:event:a":{"x":1,"x":2}}}`, []string{`{"x":1,"x":2}`}},
}

func TestSignAcceptsValidClaims(t *testing.T) {
	for _, tc := range validClaimsCases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSigner(t, "EdDSA", tc.profile)
			token, err := s.Sign([]byte(tc.claims))
			if err != nil {
				t.Fatalf("Sign(%q): %v", tc.claims, err)
			}

			_, payload, err := setverify.Verify(string(token), s.PublicJWKS())
			if err != nil {
				t.Fatalf("setverify.Verify: %v", err)
			}
			if payload["iss"] != testIssuer {
				t.Errorf("iss = %v, expected %q", payload["iss"], testIssuer)
			}
			if payload["iat"] != json.Number(strconv.FormatInt(testTime.Unix(), 10)) {
				t.Errorf("iat = %v, expected %d", payload["iat"], testTime.Unix())
			}
			if payload["jti"] == "listener-jti" {
				t.Errorf("jti kept the listener's value %q", payload["jti"])
			}

			_, rawPayload, _, _ := splitToken(t, token)
			for _, want := range tc.wantRaw {
				if !bytes.Contains(rawPayload, []byte(want)) {
					t.Errorf("payload %s does not contain %s", rawPayload, want)
				}
			}
		})
	}
}

func TestSignPayloadLayout(t *testing.T) {
	s := newTestSigner(t, "EdDSA", "")
	token, err := s.Sign([]byte(`{"z":1,"iss":"https://issuer.example.com","iat":5,` + events + `,"a":[]}`))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	_, payload, _, _ := splitToken(t, token)

	// The host claims come first, then the listener's claims in input order
	// without its "iss" and "iat".
	pattern := `^\{"iss":"https://issuer\.example\.com","iat":1700000000,"jti":"[0-9a-f]{32}","z":1,` +
		regexp.QuoteMeta(events) + `,"a":\[\]\}$`
	if !regexp.MustCompile(pattern).Match(payload) {
		t.Errorf("payload = %s, expected it to match %s", payload, pattern)
	}
}

func TestSignBigIntegerDigits(t *testing.T) {
	s := newTestSigner(t, "ES256", "")
	token, err := s.Sign([]byte(`{"big":123456789012345678901234567890,"neg":-98765432109876543210,` + events + `}`))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}

	_, payload, err := setverify.Verify(string(token), s.PublicJWKS())
	if err != nil {
		t.Fatalf("setverify.Verify: %v", err)
	}
	if got := payload["big"]; got != json.Number("123456789012345678901234567890") {
		t.Errorf("big = %v, expected 123456789012345678901234567890", got)
	}
	if got := payload["neg"]; got != json.Number("-98765432109876543210") {
		t.Errorf("neg = %v, expected -98765432109876543210", got)
	}
}

func TestSignEscapedClaimName(t *testing.T) {
	s := newTestSigner(t, "EdDSA", "")
	token, err := s.Sign([]byte(`{"a\"b\\c\u00e9":1,` + events + `}`))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	_, payload, err := setverify.Verify(string(token), s.PublicJWKS())
	if err != nil {
		t.Fatalf("setverify.Verify: %v", err)
	}
	if payload["a\"b\\cé"] != json.Number("1") {
		t.Errorf("payload = %v, expected member %q with value 1", payload, "a\"b\\cé")
	}
}

func TestSignRejectsControlCharacterName(t *testing.T) {
	s := newTestSigner(t, "EdDSA", "")
	for _, name := range []string{`exp\u0000`, `a\u0001`, `\u007f`, `x\ny`} {
		_, err := s.Sign([]byte(`{"` + name + `":1,` + events + `}`))
		if !errors.Is(err, signer.ErrInvalidClaims) {
			t.Errorf("Sign with claim %q: %v, want ErrInvalidClaims", name, err)
		}
	}
}
