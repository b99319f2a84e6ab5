package intake

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// unsignedToken returns a compact JWT with the given header and payload
// and the signature segment "c2ln".
func unsignedToken(header, payload string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + ".c2ln"
}

// tokenEvent returns an event in token form.
func tokenEvent(token string) string {
	return `{"type":"id_token.issued","token":` + jsonString(token) + `}`
}

func jsonString(s string) string {
	out, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(out)
}

func TestTokenClaims(t *testing.T) {
	const payload = `{"iss":"https://server.example.com","sub":"24400320","aud":["s6BhdRkqt3"],"iat":1311280970,"jti":"j-1","big":98765432109876543210,"name":"Zoë"}`
	token := unsignedToken(`{"alg":"RS256","kid":"k1"}`, payload)
	event := mustNormalize(t, tokenEvent(token), testOptions())

	if string(event.Claims) != payload {
		t.Errorf("Claims = %s, want %s", event.Claims, payload)
	}
	if event.ID != "j-1" {
		t.Errorf("ID = %q, want j-1", event.ID)
	}
	if event.Time != 1311280970 {
		t.Errorf("Time = %d, want 1311280970", event.Time)
	}
	if event.Issuer != "https://server.example.com" {
		t.Errorf("Issuer = %q", event.Issuer)
	}
	if event.ClientID != "s6BhdRkqt3" {
		t.Errorf("ClientID = %q, want s6BhdRkqt3", event.ClientID)
	}
	if event.Subject != "24400320" {
		t.Errorf("Subject = %q, want 24400320", event.Subject)
	}
}

func TestTokenPayloadWhitespace(t *testing.T) {
	payload := "{\n  \"iss\": \"i\",\n  \"n\": 1.50\n}"
	token := unsignedToken(`{"alg":"none"}`, " \r\n"+payload+"\n")
	token = strings.TrimSuffix(token, "c2ln") // an unsecured JWT has an empty signature
	event := mustNormalize(t, tokenEvent(token), testOptions())
	if want := `{"iss":"i","n":1.50}`; string(event.Claims) != want {
		t.Errorf("Claims = %q, want %q", event.Claims, want)
	}
}

func TestTokenMalformed(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	header := enc([]byte(`{"alg":"RS256"}`))
	payload := enc([]byte(`{"iss":"i"}`))
	tests := []struct {
		name  string
		token string
		text  string
	}{
		{"two segments", header + "." + payload, `token is not a compact JWT: it has 2 segments separated by '.', expected 3`},
		{"four segments", header + "." + payload + ".c2ln.x", `it has 4 segments`},
		{"jwe", header + ".a.b.c.d", `encrypted JWTs (JWE, 5 segments) are not supported`},
		{"one segment", "abc", `it has 1 segments`},
		{"empty", "", `it has 1 segments`},
		{"empty header", "." + payload + ".c2ln", `token header is empty`},
		{"empty payload", header + "..c2ln", `token payload is empty`},
		{"padding", header + "." + enc([]byte(`{"iss":"ix"}`)) + "=.c2ln", `token payload is not unpadded base64url`},
		{"standard alphabet", header + "." + payload + "+/.c2ln", `token payload is not unpadded base64url`},
		{"newline", header + "." + payload[:4] + "\n" + payload[4:] + ".c2ln", `token payload is not unpadded base64url`},
		{"bad length", header + "." + payload + "AB.c2ln", `token payload is not valid base64url`},
		{"header not json", enc([]byte(`alg`)) + "." + payload + ".c2ln", `token header is not valid JSON`},
		{"header array", enc([]byte(`[]`)) + "." + payload + ".c2ln", `token header is not a JSON object: got an array`},
		{"payload not json", header + "." + enc([]byte(`{"iss":`)) + ".c2ln", `token payload is not valid JSON: unexpected end of JSON input`},
		{"payload array", header + "." + enc([]byte(`[{"iss":"i"}]`)) + ".c2ln", `token payload is not a JSON object: got an array`},
		{"payload string", header + "." + enc([]byte(`"x"`)) + ".c2ln", `token payload is not a JSON object: got a string`},
		{"payload utf-8", header + "." + enc([]byte("{\"iss\":\"\xff\"}")) + ".c2ln", `token payload is not valid UTF-8`},
		{"unencoded payload", enc([]byte(`{"alg":"HS256","b64":false,"crit":["b64"]}`)) + "." + payload + ".c2ln", `unencoded payloads (RFC 7797) are not supported`},
		{"bad signature chars", header + "." + payload + ".a=b", `token signature is not unpadded base64url`},
		{"duplicate claim", header + "." + enc([]byte(`{"iss":"i","iss":"j"}`)) + ".c2ln", `field "token": claim "iss" appears more than once`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize([]byte(tokenEvent(tt.token)), testOptions())
			if err == nil {
				t.Fatalf("Normalize accepted token %q", tt.token)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			var fieldErr *Error
			if !errors.As(err, &fieldErr) || fieldErr.Field != "token" {
				t.Errorf("error %q is not an *Error for field token", err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
			if len(tt.token) > 8 && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

// testKeys contains the RSA keys made once for the signature tests.
var testKeys struct {
	once    sync.Once
	k1, k2  jwk.Key // private keys with kid "k1" and "k2"
	k1Other jwk.Key // another private key, also with kid "k1"
	err     error
}

func rsaJWK(t *testing.T, kid string) (jwk.Key, error) {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	key, err := jwk.Import(raw)
	if err != nil {
		return nil, err
	}
	if kid != "" {
		if err := key.Set(jwk.KeyIDKey, kid); err != nil {
			return nil, err
		}
	}
	return key, nil
}

func loadTestKeys(t *testing.T) {
	t.Helper()
	testKeys.once.Do(func() {
		if testKeys.k1, testKeys.err = rsaJWK(t, "k1"); testKeys.err != nil {
			return
		}
		if testKeys.k2, testKeys.err = rsaJWK(t, "k2"); testKeys.err != nil {
			return
		}
		testKeys.k1Other, testKeys.err = rsaJWK(t, "k1")
	})
	if testKeys.err != nil {
		t.Fatalf("generate RSA keys: %v", testKeys.err)
	}
}

// publicSet returns a jwk.Set with the public halves of keys.
func publicSet(t *testing.T, keys ...jwk.Key) jwk.Set {
	t.Helper()
	return publicSetWithAlg(t, "", keys...)
}

// publicSetWithAlg is publicSet with the "alg" parameter of every key set
// to alg, unless alg is empty.
func publicSetWithAlg(t *testing.T, alg string, keys ...jwk.Key) jwk.Set {
	t.Helper()
	set := jwk.NewSet()
	for _, key := range keys {
		public, err := key.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if alg != "" {
			if err := public.Set(jwk.AlgorithmKey, alg); err != nil {
				t.Fatal(err)
			}
		}
		if err := set.AddKey(public); err != nil {
			t.Fatal(err)
		}
	}
	return set
}

func signToken(t *testing.T, payload string, key jwk.Key) string {
	t.Helper()
	signed, err := jws.Sign([]byte(payload), jws.WithKey(jwa.RS256(), key))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return string(signed)
}

func TestTokenSignature(t *testing.T) {
	loadTestKeys(t)
	const payload = `{"iss":"https://issuer.example","sub":"alice","iat":1700000000,"big":12345678901234567890}`

	withoutKid, err := testKeys.k2.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if err := withoutKid.Remove(jwk.KeyIDKey); err != nil {
		t.Fatal(err)
	}

	good := signToken(t, payload, testKeys.k1)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(payload, "alice", "mallory", 1))) + "." + parts[2]
	unsecured := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"k1"}`)) + "." + parts[1] + "."

	tests := []struct {
		name  string
		token string
		keys  jwk.Set
		text  string // "" means the token is accepted
	}{
		{"valid", good, publicSet(t, testKeys.k1, testKeys.k2), ""},
		{"no check without keys", tampered, nil, ""},
		{"tampered payload", tampered, publicSet(t, testKeys.k1), "token signature check failed"},
		{"wrong key same kid", good, publicSet(t, testKeys.k1Other), "token signature check failed"},
		{"unknown kid", signToken(t, payload, testKeys.k2), publicSet(t, testKeys.k1), `failed to find key with key ID "k2"`},
		{"alg none", unsecured, publicSet(t, testKeys.k1), "token signature check failed"},
		{"key alg valid", good, publicSetWithAlg(t, "RS256", testKeys.k1), ""},
		{"key alg tampered", tampered, publicSetWithAlg(t, "RS256", testKeys.k1), "token signature check failed"},
		{"key alg none token", unsecured, publicSetWithAlg(t, "RS256", testKeys.k1), "token signature check failed"},
		{"key alg mismatch", good, publicSetWithAlg(t, "PS256", testKeys.k1), "token signature check failed"},
		{"no kid one key", signToken(t, payload, withoutKid), publicSet(t, testKeys.k2), ""},
		{"no kid two keys", signToken(t, payload, withoutKid), publicSet(t, testKeys.k1, testKeys.k2), "token signature check failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.TokenKeys = tt.keys
			event, err := Normalize([]byte(tokenEvent(tt.token)), opts)
			if tt.text == "" {
				if err != nil {
					t.Fatalf("Normalize failed: %v", err)
				}
				if !strings.Contains(string(event.Claims), "12345678901234567890") {
					t.Errorf("Claims = %s, want the 20-digit claim unchanged", event.Claims)
				}
				return
			}
			if err == nil {
				t.Fatalf("Normalize accepted the token, want an error containing %q", tt.text)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
		})
	}
}
