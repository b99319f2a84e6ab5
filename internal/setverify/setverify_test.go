package setverify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
)

const validPayload = `{"iss":"https://issuer.example.com","iat":1700000000,"jti":"3f1c","events":{"urn:example:event:a":{"n":123456789012345678901234567890}}}`

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
	keysErr  error
)

func testKeys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		if rsaKey, keysErr = rsa.GenerateKey(rand.Reader, 2048); keysErr != nil {
			return
		}
		if ecKey, keysErr = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); keysErr != nil {
			return
		}
		_, edKey, keysErr = ed25519.GenerateKey(rand.Reader)
	})
	if keysErr != nil {
		t.Fatalf("generate test keys: %v", keysErr)
	}
}

func b64(data []byte) string { return base64.RawURLEncoding.EncodeToString(data) }

func bigB64(n *big.Int) string { return b64(n.Bytes()) }

// publicJWKOf returns the public JWK members of key, with kid "k1".
func publicJWKOf(t *testing.T, key crypto.Signer) map[string]any {
	t.Helper()
	switch public := key.Public().(type) {
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "kid": "k1", "n": bigB64(public.N), "e": bigB64(big.NewInt(int64(public.E)))}
	case *ecdsa.PublicKey:
		point, err := public.Bytes()
		if err != nil {
			t.Fatalf("encode EC point: %v", err)
		}
		return map[string]any{"kty": "EC", "kid": "k1", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}
	case ed25519.PublicKey:
		return map[string]any{"kty": "OKP", "kid": "k1", "crv": "Ed25519", "x": b64(public)}
	}
	t.Fatalf("unsupported key %T", key)
	return nil
}

func jwksOf(t *testing.T, keys ...map[string]any) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatalf("marshal JWK set: %v", err)
	}
	return data
}

// signToken builds a compact JWS with the standard library.
func signToken(t *testing.T, algorithm string, key crypto.Signer, header, payload string) string {
	t.Helper()
	input := b64([]byte(header)) + "." + b64([]byte(payload))
	digest := sha256.Sum256([]byte(input))

	var signature []byte
	var err error
	switch algorithm {
	case "RS256":
		signature, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case "PS256":
		signature, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, digest[:],
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "PS256-max-salt":
		signature, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, digest[:],
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	case "ES256":
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), digest[:])
		if err == nil {
			signature = make([]byte, 64)
			r.FillBytes(signature[:32])
			s.FillBytes(signature[32:])
		}
	case "ES256-DER":
		signature, err = ecdsa.SignASN1(rand.Reader, key.(*ecdsa.PrivateKey), digest[:])
	case "EdDSA":
		signature = ed25519.Sign(key.(ed25519.PrivateKey), []byte(input))
	default:
		t.Fatalf("unknown test algorithm %q", algorithm)
	}
	if err != nil {
		t.Fatalf("sign %s: %v", algorithm, err)
	}
	return input + "." + b64(signature)
}

func header(algorithm string) string {
	return `{"alg":"` + algorithm + `","kid":"k1","typ":"secevent+jwt"}`
}

func TestVerifyAlgorithms(t *testing.T) {
	testKeys(t)
	tests := []struct {
		name      string
		algorithm string
		key       crypto.Signer
	}{
		{"RS256", "RS256", rsaKey},
		{"PS256", "PS256", rsaKey},
		{"ES256", "ES256", ecKey},
		{"EdDSA", "EdDSA", edKey},
		{"Ed25519 name", "Ed25519", edKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			signing := tc.algorithm
			if signing == "Ed25519" {
				signing = "EdDSA"
			}
			token := signToken(t, signing, tc.key, header(tc.algorithm), validPayload)
			jwk := publicJWKOf(t, tc.key)
			jwk["alg"] = tc.algorithm
			jwk["use"] = "sig"

			gotHeader, payload, err := Verify(token, jwksOf(t, jwk))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if gotHeader["alg"] != tc.algorithm {
				t.Errorf("header alg = %v, expected %s", gotHeader["alg"], tc.algorithm)
			}
			if payload["iat"] != json.Number("1700000000") {
				t.Errorf("iat = %#v, expected json.Number 1700000000", payload["iat"])
			}
			event := payload["events"].(map[string]any)["urn:example:event:a"].(map[string]any)
			if event["n"] != json.Number("123456789012345678901234567890") {
				t.Errorf("event n = %v, expected all 30 digits", event["n"])
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	testKeys(t)
	rsaJWKS := jwksOf(t, publicJWKOf(t, rsaKey))
	ecJWKS := jwksOf(t, publicJWKOf(t, ecKey))
	good := signToken(t, "RS256", rsaKey, header("RS256"), validPayload)
	goodParts := strings.Split(good, ".")
	if _, _, err := Verify(good, rsaJWKS); err != nil {
		t.Fatalf("Verify of the unchanged token: %v", err)
	}

	withMember := func(name string, value any) []byte {
		jwk := publicJWKOf(t, rsaKey)
		jwk[name] = value
		return jwksOf(t, jwk)
	}
	rs256 := func(payload string) string { return signToken(t, "RS256", rsaKey, header("RS256"), payload) }
	const events = `"events":{"urn:example:event:a":{}}`
	const base = `"iss":"https://issuer.example.com","iat":1,"jti":"j",`

	tests := []struct {
		name          string
		token         string
		jwks          []byte
		wantErr       string
		wantSignature bool // the error must wrap ErrSignature
	}{
		{"two parts", goodParts[0] + "." + goodParts[1], rsaJWKS, "compact JWS has 2 parts", false},
		{"padded header", goodParts[0] + "=." + goodParts[1] + "." + goodParts[2], rsaJWKS, "protected header is not base64url", false},
		{"header not object", b64([]byte(`[1]`)) + "." + goodParts[1] + "." + goodParts[2], rsaJWKS, "protected header is not a JSON object", false},
		{"header typ JWT", signToken(t, "RS256", rsaKey, `{"alg":"RS256","kid":"k1","typ":"JWT"}`, validPayload), rsaJWKS, `header "typ" is JWT`, false},
		{"header typ missing", signToken(t, "RS256", rsaKey, `{"alg":"RS256","kid":"k1"}`, validPayload), rsaJWKS, `header "typ"`, false},
		{"header crit", signToken(t, "RS256", rsaKey, `{"alg":"RS256","kid":"k1","typ":"secevent+jwt","crit":["b64"],"b64":false}`, validPayload), rsaJWKS, `header has "crit"`, false},
		{"header kid missing", signToken(t, "RS256", rsaKey, `{"alg":"RS256","typ":"secevent+jwt"}`, validPayload), rsaJWKS, `header "kid"`, false},
		{"header alg none", b64([]byte(`{"alg":"none","kid":"k1","typ":"secevent+jwt"}`)) + "." + goodParts[1] + ".", rsaJWKS, `header "alg" is none`, false},
		{"header alg HS256", signToken(t, "RS256", rsaKey, `{"alg":"HS256","kid":"k1","typ":"secevent+jwt"}`, validPayload), rsaJWKS, `header "alg" is HS256`, false},
		{"header duplicate alg", signToken(t, "RS256", rsaKey, `{"alg":"RS256","alg":"none","kid":"k1","typ":"secevent+jwt"}`, validPayload), rsaJWKS, `member "alg" more than once`, false},

		{"invalid JWKS", good, []byte(`{"keys":`), "invalid JWK set", false},
		{"kid not found", good, jwksOf(t, map[string]any{"kty": "RSA", "kid": "other"}), `no key with kid "k1"`, false},
		{"kid twice", good, jwksOf(t, publicJWKOf(t, rsaKey), publicJWKOf(t, rsaKey)), `several keys with kid "k1"`, false},
		{"JWKS private member", good, withMember("d", "AQAB"), "private or symmetric key material", false},
		{"JWK alg differs", good, withMember("alg", "PS256"), `has "alg" "PS256" but the header has "RS256"`, false},
		{"JWK use enc", good, withMember("use", "enc"), `has "use" "enc"`, false},
		{"kty mismatch", good, func() []byte { jwk := publicJWKOf(t, ecKey); return jwksOf(t, jwk) }(), `RS256 needs "RSA"`, false},
		{"EC point off curve", signToken(t, "ES256", ecKey, header("ES256"), validPayload),
			func() []byte { jwk := publicJWKOf(t, ecKey); jwk["y"] = jwk["x"]; return jwksOf(t, jwk) }(), "not a P-256 point", false},

		{"changed payload", goodParts[0] + "." + b64([]byte(strings.Replace(validPayload, "3f1c", "3f1d", 1))) + "." + goodParts[2], rsaJWKS, "", true},
		{"other key", signToken(t, "ES256", ecKey, header("ES256"), validPayload),
			func() []byte {
				other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				if err != nil {
					t.Fatalf("generate key: %v", err)
				}
				return jwksOf(t, publicJWKOf(t, other))
			}(), "", true},
		{"ES256 DER signature", signToken(t, "ES256-DER", ecKey, header("ES256"), validPayload), ecJWKS, "ES256 signature has", true},
		{"PS256 long salt", signToken(t, "PS256-max-salt", rsaKey, header("PS256"), validPayload), rsaJWKS, "", true},
		{"PKCS1 signature under PS256", signToken(t, "RS256", rsaKey, header("PS256"), validPayload), rsaJWKS, "", true},

		{"payload not object", rs256(`"x"`), rsaJWKS, "payload is not a JSON object", false},
		{"payload trailing data", rs256(`{` + base + events + `} {}`), rsaJWKS, "payload contains data after the JSON object", false},
		{"payload duplicate iss", rs256(`{` + base + `"iss":"x",` + events + `}`), rsaJWKS, `payload contains member "iss" more than once`, false},
		{"payload invalid UTF-8", rs256(`{` + base + events + `,"x":"` + "\xff" + `"}`), rsaJWKS, "payload is not valid UTF-8", false},
		{"iss missing", rs256(`{"iat":1,"jti":"j",` + events + `}`), rsaJWKS, `claim "iss"`, false},
		{"iat float", rs256(`{"iss":"i","iat":1.5,"jti":"j",` + events + `}`), rsaJWKS, `claim "iat" is 1.5`, false},
		{"iat string", rs256(`{"iss":"i","iat":"1","jti":"j",` + events + `}`), rsaJWKS, `claim "iat"`, false},
		{"jti missing", rs256(`{"iss":"i","iat":1,` + events + `}`), rsaJWKS, `claim "jti"`, false},
		{"exp present", rs256(`{` + base + `"exp":2,` + events + `}`), rsaJWKS, `claim "exp" is present`, false},
		{"nonce present", rs256(`{` + base + `"nonce":"n",` + events + `}`), rsaJWKS, `claim "nonce" is present`, false},
		{"events missing", rs256(`{"iss":"i","iat":1,"jti":"j"}`), rsaJWKS, `claim "events"`, false},
		{"events empty", rs256(`{` + base + `"events":{}}`), rsaJWKS, `claim "events" is empty`, false},
		{"event type relative", rs256(`{` + base + `"events":{"login":{}}}`), rsaJWKS, `event type "login" is not an absolute URI`, false},
		{"event not object", rs256(`{` + base + `"events":{"urn:a":[]}}`), rsaJWKS, `event "urn:a"`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Verify(tc.token, tc.jwks)
			if err == nil {
				t.Fatalf("Verify succeeded, expected an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Verify error = %q, expected it to contain %q", err, tc.wantErr)
			}
			if got := errors.Is(err, ErrSignature); got != tc.wantSignature {
				t.Errorf("errors.Is(%q, ErrSignature) = %v, expected %v", err, got, tc.wantSignature)
			}
		})
	}
}
