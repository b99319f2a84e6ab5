package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/abi"
)

// testNow is the clock of testOptions.
var testNow = time.Unix(1700000000, 0)

// zeroUUID is the id generated from a Random source of zero bytes.
const zeroUUID = "00000000-0000-4000-8000-000000000000"

// testOptions returns Options with a fixed clock and a Random source of
// zero bytes, so derived times and ids are predictable.
func testOptions() Options {
	return Options{
		Now:    func() time.Time { return testNow },
		Random: zeroReader{},
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// oidcIDTokenClaims is an ID token claims set modeled on the ID token
// example of OpenID Connect Core 1.0.
const oidcIDTokenClaims = `{
  "iss": "https://server.example.com",
  "sub": "24400320",
  "aud": "s6BhdRkqt3",
  "nonce": "n-0S6_WzA2Mj",
  "exp": 1311281970,
  "iat": 1311280970,
  "auth_time": 1311280969,
  "acr": "urn:mace:incommon:iap:silver"
}`

// accessTokenClaims is a JWT access token claims set with the claims that
// RFC 9068 requires (iss, exp, aud, sub, client_id, iat, jti) and a scope.
const accessTokenClaims = `{"iss":"https://authorization-server.example.com/","exp":1639528912,"aud":"https://rs.example.com/","sub":"5ba552d67","client_id":"s6BhdRkqt3","iat":1618354090,"jti":"dbe39bf3a3ba4238a513f51d6e1691c4","scope":"openid profile reademail"}`

func mustNormalize(t *testing.T, input string, opts Options) *abi.Event {
	t.Helper()
	event, err := Normalize([]byte(input), opts)
	if err != nil {
		t.Fatalf("Normalize(%s) failed: %v", input, err)
	}
	return event
}

func TestNormalizeDerivation(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		issuer   string // Options.DefaultIssuer
		id       string
		time     int64
		iss      string
		clientID string
		subject  string
	}{
		{
			name:  "given fields win",
			input: `{"id":"e1","type":"id_token.issued","time":5,"issuer":"https://given","client_id":"given-client","subject":"given-sub","claims":{"jti":"j","iat":7,"iss":"https://claim","client_id":"c","azp":"a","aud":"x","sub":"s"}}`,
			id:    "e1", time: 5, iss: "https://given", clientID: "given-client", subject: "given-sub",
		},
		{
			name:  "oidc id token",
			input: `{"type":"id_token.issued","claims":` + oidcIDTokenClaims + `}`,
			id:    zeroUUID, time: 1311280970, iss: "https://server.example.com", clientID: "s6BhdRkqt3", subject: "24400320",
		},
		{
			name:  "rfc 9068 access token",
			input: `{"type":"access_token.issued","claims":` + accessTokenClaims + `}`,
			id:    "dbe39bf3a3ba4238a513f51d6e1691c4", time: 1618354090, iss: "https://authorization-server.example.com/", clientID: "s6BhdRkqt3", subject: "5ba552d67",
		},
		{
			name:  "id from jti",
			input: `{"type":"id_token.issued","issuer":"i","claims":{"jti":"abc"}}`,
			id:    "abc", time: testNow.Unix(), iss: "i",
		},
		{
			name:  "id random without jti",
			input: `{"type":"id_token.issued","issuer":"i","claims":{}}`,
			id:    zeroUUID, time: testNow.Unix(), iss: "i",
		},
		{
			name:  "id random for empty jti",
			input: `{"type":"id_token.issued","issuer":"i","claims":{"jti":""}}`,
			id:    zeroUUID, time: testNow.Unix(), iss: "i",
		},
		{
			name:  "id random for numeric jti",
			input: `{"type":"id_token.issued","issuer":"i","claims":{"jti":17}}`,
			id:    zeroUUID, time: testNow.Unix(), iss: "i",
		},
		{
			name:  "empty id derives",
			input: `{"id":"","type":"id_token.issued","issuer":"i","claims":{"jti":"abc"}}`,
			id:    "abc", time: testNow.Unix(), iss: "i",
		},
		{
			name:  "time from iat",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"iat":1234}}`,
			id:    "e", time: 1234, iss: "i",
		},
		{
			name:  "time zero given",
			input: `{"id":"e","type":"id_token.issued","time":0,"issuer":"i","claims":{"iat":1234}}`,
			id:    "e", time: 0, iss: "i",
		},
		{
			name:  "time given ignores bad iat",
			input: `{"id":"e","type":"id_token.issued","time":99,"issuer":"i","claims":{"iat":"soon"}}`,
			id:    "e", time: 99, iss: "i",
		},
		{
			name:  "time from clock",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{}}`,
			id:    "e", time: testNow.Unix(), iss: "i",
		},
		{
			name:  "issuer from iss",
			input: `{"id":"e","type":"id_token.issued","claims":{"iss":"https://iss"}}`,
			id:    "e", time: testNow.Unix(), iss: "https://iss",
		},
		{
			name:   "iss beats default",
			input:  `{"id":"e","type":"id_token.issued","claims":{"iss":"https://iss"}}`,
			issuer: "https://default",
			id:     "e", time: testNow.Unix(), iss: "https://iss",
		},
		{
			name:   "issuer from default",
			input:  `{"id":"e","type":"id_token.issued","claims":{"iss":5}}`,
			issuer: "https://default",
			id:     "e", time: testNow.Unix(), iss: "https://default",
		},
		{
			name:   "empty issuer derives",
			input:  `{"id":"e","type":"id_token.issued","issuer":"","claims":{}}`,
			issuer: "https://default",
			id:     "e", time: testNow.Unix(), iss: "https://default",
		},
		{
			name:  "client_id claim",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"client_id":"c","azp":"a","aud":"x"}}`,
			id:    "e", time: testNow.Unix(), iss: "i", clientID: "c",
		},
		{
			name:  "azp claim",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"azp":"a","aud":["x","y"]}}`,
			id:    "e", time: testNow.Unix(), iss: "i", clientID: "a",
		},
		{
			name:  "empty client_id claim",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"client_id":"","azp":"a"}}`,
			id:    "e", time: testNow.Unix(), iss: "i", clientID: "a",
		},
		{
			name:  "aud string",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"aud":"x"}}`,
			id:    "e", time: testNow.Unix(), iss: "i", clientID: "x",
		},
		{
			name:  "aud single array",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"aud":[ "x\u0041" ]}}`,
			id:    "e", time: testNow.Unix(), iss: "i", clientID: "xA",
		},
		{
			name:  "aud two strings",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"aud":["x","y"]}}`,
			id:    "e", time: testNow.Unix(), iss: "i",
		},
		{
			name:  "aud comma in string",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"aud":["x,\"y"]}}`,
			id:    "e", time: testNow.Unix(), iss: "i", clientID: `x,"y`,
		},
		{
			name:  "aud number array",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"aud":[1]}}`,
			id:    "e", time: testNow.Unix(), iss: "i",
		},
		{
			name:  "aud empty array",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"aud":[]}}`,
			id:    "e", time: testNow.Unix(), iss: "i",
		},
		{
			name:  "given empty client_id derives",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","client_id":"","claims":{"azp":"a"}}`,
			id:    "e", time: testNow.Unix(), iss: "i", clientID: "a",
		},
		{
			name:  "subject from sub",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"sub":"Zoë 日本"}}`,
			id:    "e", time: testNow.Unix(), iss: "i", subject: "Zoë 日本",
		},
		{
			name:  "subject empty for numeric sub",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"sub":42}}`,
			id:    "e", time: testNow.Unix(), iss: "i",
		},
		{
			name:  "escaped id",
			input: `{"id":"a\u00e9\n","type":"id_token.issued","issuer":"i","claims":{}}`,
			id:    "aé\n", time: testNow.Unix(), iss: "i",
		},
		{
			name:  "escaped field name",
			input: `{"\u0069d":"e","type":"id_token.issued","issuer":"i","claims":{}}`,
			id:    "e", time: testNow.Unix(), iss: "i",
		},
		{
			name:  "escaped claim name",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"s\u0075b":"x"}}`,
			id:    "e", time: testNow.Unix(), iss: "i", subject: "x",
		},
		{
			name:  "claim names are case sensitive",
			input: `{"id":"e","type":"id_token.issued","issuer":"i","claims":{"SUB":"x","Iss":"y"}}`,
			id:    "e", time: testNow.Unix(), iss: "i",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.DefaultIssuer = tt.issuer
			event := mustNormalize(t, tt.input, opts)
			if event.ID != tt.id {
				t.Errorf("ID = %q, want %q", event.ID, tt.id)
			}
			if event.Time != tt.time {
				t.Errorf("Time = %d, want %d", event.Time, tt.time)
			}
			if event.Issuer != tt.iss {
				t.Errorf("Issuer = %q, want %q", event.Issuer, tt.iss)
			}
			if event.ClientID != tt.clientID {
				t.Errorf("ClientID = %q, want %q", event.ClientID, tt.clientID)
			}
			if event.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", event.Subject, tt.subject)
			}
		})
	}
}

func TestNormalizeRandomID(t *testing.T) {
	input := []byte(`{"type":"id_token.issued","issuer":"i","claims":{}}`)
	first, err := Normalize(input, Options{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := Normalize(input, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if first.ID == second.ID {
		t.Errorf("two events without id or jti got the same id %q", first.ID)
	}
	if len(first.ID) != 36 || first.ID[14] != '4' || !strings.ContainsRune("89ab", rune(first.ID[19])) {
		t.Errorf("ID = %q, want a version 4 UUID", first.ID)
	}
}

func TestNormalizeRandomFailure(t *testing.T) {
	opts := testOptions()
	opts.Random = bytes.NewReader([]byte{1, 2, 3})
	_, err := Normalize([]byte(`{"type":"id_token.issued","issuer":"i","claims":{}}`), opts)
	if err == nil {
		t.Fatal("Normalize succeeded with a short Random source")
	}
	if errors.Is(err, ErrInvalid) {
		t.Errorf("error %q wraps ErrInvalid, but the event is valid", err)
	}
	var fieldErr *Error
	if !errors.As(err, &fieldErr) || fieldErr.Field != "id" {
		t.Errorf("error %#v is not an *Error for field id", err)
	}
}

func TestNormalizeErrors(t *testing.T) {
	const claims = `"claims":{}`
	tests := []struct {
		name   string
		input  string
		field  string
		target error
		text   string
	}{
		{"unknown type", `{"type":"id_token.isued","issuer":"i",` + claims + `}`, "type", ErrInvalid,
			`invalid event: field "type": unknown event type "id_token.isued": use one of id_token.issued, access_token.issued`},
		{"type case", `{"type":"ID_TOKEN.ISSUED","issuer":"i",` + claims + `}`, "type", ErrInvalid, `unknown event type "ID_TOKEN.ISSUED"`},
		{"missing type", `{"issuer":"i",` + claims + `}`, "type", ErrInvalid, `field "type": missing: use one of id_token.issued, access_token.issued`},
		{"type number", `{"type":1,"issuer":"i",` + claims + `}`, "type", ErrInvalid, `field "type": expected a string, got a number`},
		{"time string", `{"type":"id_token.issued","time":"123","issuer":"i",` + claims + `}`, "time", ErrInvalid,
			`field "time": expected an integer number of unix seconds, got a string`},
		{"time fraction", `{"type":"id_token.issued","time":1.5,"issuer":"i",` + claims + `}`, "time", ErrInvalid,
			`field "time": expected an integer number of unix seconds, got 1.5`},
		{"time exponent", `{"type":"id_token.issued","time":1e9,"issuer":"i",` + claims + `}`, "time", ErrInvalid, `got 1e9`},
		{"time negative", `{"type":"id_token.issued","time":-1,"issuer":"i",` + claims + `}`, "time", ErrInvalid, `field "time": must not be negative, got -1`},
		{"time overflow", `{"type":"id_token.issued","time":99999999999999999999,"issuer":"i",` + claims + `}`, "time", ErrInvalid,
			`99999999999999999999 is out of range`},
		{"time null", `{"type":"id_token.issued","time":null,"issuer":"i",` + claims + `}`, "time", ErrInvalid, `got null`},
		{"id number", `{"id":7,"type":"id_token.issued","issuer":"i",` + claims + `}`, "id", ErrInvalid, `field "id": expected a string, got a number`},
		{"id null", `{"id":null,"type":"id_token.issued","issuer":"i",` + claims + `}`, "id", ErrInvalid, `field "id": expected a string, got null`},
		{"issuer bool", `{"type":"id_token.issued","issuer":true,` + claims + `}`, "issuer", ErrInvalid, `field "issuer": expected a string, got a boolean`},
		{"client_id array", `{"type":"id_token.issued","issuer":"i","client_id":["c"],` + claims + `}`, "client_id", ErrInvalid, `got an array`},
		{"subject object", `{"type":"id_token.issued","issuer":"i","subject":{},` + claims + `}`, "subject", ErrInvalid, `got an object`},
		{"claims array", `{"type":"id_token.issued","issuer":"i","claims":[]}`, "claims", ErrInvalid, `field "claims": expected a JSON object, got an array`},
		{"claims string", `{"type":"id_token.issued","issuer":"i","claims":"{}"}`, "claims", ErrInvalid, `got a string`},
		{"claims null", `{"type":"id_token.issued","issuer":"i","claims":null}`, "claims", ErrInvalid, `got null`},
		{"context array", `{"type":"id_token.issued","issuer":"i",` + claims + `,"context":[]}`, "context", ErrInvalid,
			`field "context": expected a JSON object or null, got an array`},
		{"context string", `{"type":"id_token.issued","issuer":"i",` + claims + `,"context":"x"}`, "context", ErrInvalid, `got a string`},
		{"token number", `{"type":"id_token.issued","issuer":"i","token":1}`, "token", ErrInvalid, `field "token": expected a string, got a number`},
		{"unknown field", `{"type":"id_token.issued","issuer":"i","clams":{}}`, "clams", ErrInvalid,
			`field "clams": unknown field: use one of id, type, time, issuer, client_id, subject, claims, context, token`},
		{"field case", `{"Type":"id_token.issued","issuer":"i",` + claims + `}`, "Type", ErrInvalid, `field "Type": unknown field`},
		{"duplicate field", `{"type":"id_token.issued","issuer":"i","issuer":"j",` + claims + `}`, "issuer", ErrInvalid,
			`field "issuer": duplicate field`},
		{"duplicate escaped field", `{"type":"id_token.issued","issuer":"i","\u0069ssuer":"j",` + claims + `}`, "issuer", ErrInvalid, `duplicate field`},
		{"claims and token", `{"type":"id_token.issued","issuer":"i",` + claims + `,"token":"a.b.c"}`, "token", ErrInvalid,
			`field "token": cannot be combined with "claims"`},
		{"no claims", `{"type":"id_token.issued","issuer":"i"}`, "claims", ErrInvalid, `field "claims": missing`},
		{"duplicate claim", `{"type":"id_token.issued","issuer":"i","claims":{"sub":"a","x":1,"sub":"b"}}`, "claims", ErrInvalid,
			`field "claims": claim "sub" appears more than once`},
		{"iat fraction", `{"type":"id_token.issued","issuer":"i","claims":{"iat":1.5}}`, "claims", ErrInvalid,
			`field "claims": claim "iat": expected an integer number of unix seconds, got 1.5: give "time"`},
		{"iat negative", `{"type":"id_token.issued","issuer":"i","claims":{"iat":-3}}`, "claims", ErrInvalid, `claim "iat": must not be negative, got -3`},
		{"iat string", `{"type":"id_token.issued","issuer":"i","claims":{"iat":"1"}}`, "claims", ErrInvalid, `claim "iat": expected an integer number of unix seconds, got a string`},
		{"no issuer", `{"type":"id_token.issued",` + claims + `}`, "issuer", ErrInvalid,
			`field "issuer": missing: give "issuer", an "iss" claim, or set Options.DefaultIssuer`},
		{"empty iss", `{"type":"id_token.issued","claims":{"iss":""}}`, "issuer", ErrInvalid, `field "issuer": missing`},
		{"array event", `[{"type":"id_token.issued"}]`, "", ErrInvalid, `invalid event: event must be a JSON object, got an array`},
		{"string event", `"x"`, "", ErrInvalid, `got a string`},
		{"malformed json", `{"type":"id_token.issued",}`, "", ErrInvalid, `invalid event: malformed JSON: invalid character '}' looking for beginning of object key string (column 27)`},
		{"trailing data", `{"type":"id_token.issued","issuer":"i",` + claims + `} {}`, "", ErrInvalid, `invalid character '{' after top-level value`},
		{"truncated", `{"type":"id_token.issued"`, "", ErrInvalid, `unexpected end of JSON input`},
		{"empty", ``, "", ErrInvalid, `no JSON value`},
		{"invalid utf-8", "{\"type\":\"id_token.issued\",\"issuer\":\"\xff\"," + claims + "}", "", ErrInvalid, `not valid UTF-8: invalid byte at offset 36`},
		{"control in string", "{\"type\":\"id_token.issued\",\"issuer\":\"a\tb\"," + claims + "}", "", ErrInvalid, `invalid character '\t' in string literal`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event, err := Normalize([]byte(tt.input), testOptions())
			if err == nil {
				t.Fatalf("Normalize succeeded with %+v, want an error containing %q", event, tt.text)
			}
			if !errors.Is(err, tt.target) {
				t.Errorf("error %q does not wrap %v", err, tt.target)
			}
			var fieldErr *Error
			if !errors.As(err, &fieldErr) {
				t.Fatalf("error %q is %T, want *Error", err, err)
			}
			if fieldErr.Field != tt.field {
				t.Errorf("Field = %q, want %q", fieldErr.Field, tt.field)
			}
			if fieldErr.Line != 0 {
				t.Errorf("Line = %d, want 0", fieldErr.Line)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
		})
	}
}

func TestNormalizeTooLarge(t *testing.T) {
	input := []byte(`{"type":"id_token.issued","issuer":"i","claims":{"pad":"` + strings.Repeat("x", 100) + `"}}`)
	opts := testOptions()
	opts.MaxEventBytes = len(input) - 1
	_, err := Normalize(input, opts)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error = %v, want ErrTooLarge", err)
	}
	if want := "more than the limit of"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}

	opts.MaxEventBytes = len(input)
	if _, err := Normalize(input, opts); err != nil {
		t.Errorf("event of exactly MaxEventBytes rejected: %v", err)
	}
}

func TestNormalizeDefaultLimit(t *testing.T) {
	pad := strings.Repeat("x", DefaultMaxEventBytes)
	input := []byte(`{"type":"id_token.issued","issuer":"i","claims":{"pad":"` + pad + `"}}`)
	if _, err := Normalize(input, Options{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("error = %v, want ErrTooLarge", err)
	}
}

func TestNormalizeManyClaims(t *testing.T) {
	var names []string
	for i := range 40 {
		names = append(names, `"c`+strings.Repeat("x", i)+`":1`)
	}
	unique := `{"type":"id_token.issued","issuer":"i","claims":{` + strings.Join(names, ",") + `}}`
	mustNormalize(t, unique, testOptions())

	repeated := `{"type":"id_token.issued","issuer":"i","claims":{` + strings.Join(names, ",") + `,"c":2}}`
	_, err := Normalize([]byte(repeated), testOptions())
	if err == nil || !strings.Contains(err.Error(), `claim "c" appears more than once`) {
		t.Errorf("error = %v, want a repeated claim error", err)
	}
}

func TestNormalizeBigInteger(t *testing.T) {
	const big = "98765432109876543210"
	input := `{"id":"e","type":"access_token.issued","issuer":"i","claims":{"big":` + big + `,"neg":-` + big + `,"f":1.000000000000000000001}}`
	event := mustNormalize(t, input, testOptions())
	wantClaims := `{"big":` + big + `,"neg":-` + big + `,"f":1.000000000000000000001}`
	if string(event.Claims) != wantClaims {
		t.Errorf("Claims = %s, want %s", event.Claims, wantClaims)
	}

	encoded := Encode(event)
	decoder := json.NewDecoder(bytes.NewReader(encoded))
	decoder.UseNumber()
	var out struct {
		Claims map[string]json.Number `json:"claims"`
	}
	if err := decoder.Decode(&out); err != nil {
		t.Fatalf("decode %s: %v", encoded, err)
	}
	if got := out.Claims["big"].String(); got != big {
		t.Errorf("encoded big = %s, want %s", got, big)
	}
	if got := out.Claims["neg"].String(); got != "-"+big {
		t.Errorf("encoded neg = %s, want -%s", got, big)
	}
}

func TestNormalizeRawPassThrough(t *testing.T) {
	// Whitespace between tokens is removed; every token keeps its text.
	sent := `{ "name" : "Zoë 日本 🎉", "esc":"\u00e9\ud83c\udf89\/", "nested": {"a": [1, 2.50, 1E+2, true, null]} }`
	claims := `{"name":"Zoë 日本 🎉","esc":"\u00e9\ud83c\udf89\/","nested":{"a":[1,2.50,1E+2,true,null]}}`
	context := `{"grant_type":"authorization_code","scope":"openid email","ip":"2001:db8::1"}`
	input := []byte(`{"id":"e","type":"id_token.issued","issuer":"i","claims":` + sent + `,"context":` + context + `}`)
	event, err := Normalize(input, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if string(event.Claims) != claims {
		t.Errorf("Claims = %s, want %s", event.Claims, claims)
	}
	if string(event.Context) != context {
		t.Errorf("Context = %s, want %s", event.Context, context)
	}

	// The event must not alias the input buffer.
	clear(input)
	if string(event.Claims) != claims {
		t.Errorf("Claims changed with the input buffer: %q", event.Claims)
	}
	if string(event.Context) != context {
		t.Errorf("Context changed with the input buffer: %q", event.Context)
	}
}

func TestNormalizeContext(t *testing.T) {
	tests := []struct {
		name    string
		context string // "" leaves the field out
		want    string
	}{
		{"absent", "", ""},
		{"null", "null", ""},
		{"empty object", "{}", "{}"},
		{"object", `{"scope":"openid"}`, `{"scope":"openid"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := `{"id":"e","type":"id_token.issued","issuer":"i","claims":{}`
			if tt.context != "" {
				input += `,"context":` + tt.context
			}
			event := mustNormalize(t, input+"}", testOptions())
			if string(event.Context) != tt.want {
				t.Errorf("Context = %q, want %q", event.Context, tt.want)
			}
			if tt.want == "" && event.Context != nil {
				t.Errorf("Context = %#v, want nil", event.Context)
			}
		})
	}
}

func TestNormalizeWhitespace(t *testing.T) {
	input := " \r\n\t{ \"id\" : \"e\" ,\n \"type\":\"id_token.issued\", \"issuer\" :\"i\",\"claims\":\n{ }\n }\n "
	event := mustNormalize(t, input, testOptions())
	if string(event.Claims) != "{}" {
		t.Errorf("Claims = %q, want %q", event.Claims, "{}")
	}
}
