package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tokenwire/tokenwire/abi"
)

// fuzzOptions are the options of the fuzz targets. The default issuer lets
// more inputs succeed, and the small size limit reaches the ErrTooLarge
// paths with short inputs.
func fuzzOptions() Options {
	opts := testOptions()
	opts.DefaultIssuer = "https://default.example"
	opts.MaxEventBytes = 2048
	return opts
}

// fuzzSeeds are realistic events and near misses.
var fuzzSeeds = []string{
	`{"type":"id_token.issued","claims":` + oidcIDTokenClaims + `}`,
	`{"id":"evt-1","type":"id_token.issued","time":1311280970,"issuer":"https://server.example.com","client_id":"s6BhdRkqt3","subject":"24400320","claims":` + oidcIDTokenClaims + `,"context":{"grant_type":"authorization_code","scope":"openid profile","ip":"203.0.113.7"}}`,
	`{"type":"access_token.issued","claims":` + accessTokenClaims + `,"context":null}`,
	`{"type":"access_token.issued","claims":{"iss":"https://as.example/","big":98765432109876543210,"aud":["api"],"name":"Zoë 日本 🎉","esc":"\u00e9\ud83c\udf89"}}`,
	tokenEvent(unsignedToken(`{"alg":"RS256","kid":"k1","typ":"at+jwt"}`, accessTokenClaims)),
	tokenEvent(unsignedToken(`{"alg":"none"}`, oidcIDTokenClaims)),
	`{"type":"id_token.isued","claims":{}}`,
	`{"type":"id_token.issued","time":"123","claims":{}}`,
	`{"type":"id_token.issued","clams":{}}`,
	`{"type":"id_token.issued","claims":{"iat":1.5}}`,
	`{"type":"id_token.issued","claims":{},"token":"a.b.c"}`,
	`{"id":"","type":"id_token.issued","subject":"","client_id":"","claims":{"sub":"s","azp":"a"}}`,
}

// checkEvent fails the test unless event is well formed, Encode writes it
// as valid JSON, and Normalize reads that JSON back as the same event.
func checkEvent(t *testing.T, event *abi.Event, opts Options) {
	t.Helper()
	if !abi.KnownEventType(event.Type) {
		t.Errorf("event type %q is not known", event.Type)
	}
	if event.ID == "" || event.Issuer == "" {
		t.Errorf("event %+v has an empty id or issuer", event)
	}
	if event.Time < 0 {
		t.Errorf("event time %d is negative", event.Time)
	}
	if len(event.Claims) == 0 || event.Claims[0] != '{' || !json.Valid(event.Claims) {
		t.Errorf("claims %q are not a JSON object", event.Claims)
	}
	if event.Context != nil && (event.Context[0] != '{' || !json.Valid(event.Context)) {
		t.Errorf("context %q is not a JSON object", event.Context)
	}

	encoded := Encode(event)
	if !json.Valid(encoded) || !utf8.Valid(encoded) {
		t.Fatalf("Encode output is not valid UTF-8 JSON: %q", encoded)
	}
	var decoded abi.Event
	if err := json.Unmarshal(encoded, &decoded); err != nil {
		t.Fatalf("encoding/json cannot read Encode output %q: %v", encoded, err)
	}
	if diff := compareEvents(event, &decoded); diff != "" {
		t.Errorf("encoding/json reads Encode output differently: %s", diff)
	}

	again, err := Normalize(encoded, opts)
	if err != nil {
		t.Fatalf("Normalize rejected Encode output %q: %v", encoded, err)
	}
	if diff := compareEvents(event, again); diff != "" {
		t.Errorf("Normalize(Encode(event)) differs: %s", diff)
	}
}

// checkError fails the test unless err is an *Error for a rejected event.
func checkError(t *testing.T, err error) *Error {
	t.Helper()
	var fieldErr *Error
	if !errors.As(err, &fieldErr) {
		t.Fatalf("error %v is %T, want *Error", err, err)
	}
	if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
		t.Errorf("error %q wraps neither ErrInvalid nor ErrTooLarge", err)
	}
	if !utf8.ValidString(err.Error()) {
		t.Errorf("error message is not valid UTF-8: %q", err)
	}
	return fieldErr
}

func FuzzNormalize(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := fuzzOptions()
		event, err := Normalize(data, opts)
		if err != nil {
			if event != nil {
				t.Errorf("Normalize returned an event and error %v", err)
			}
			checkError(t, err)
			return
		}
		checkEvent(t, event, opts)
	})
}

func FuzzDecoder(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add([]byte(seed))
	}
	f.Add([]byte(strings.Join(fuzzSeeds, "\n")))
	f.Add([]byte(strings.Join(fuzzSeeds, "\r\n\r\n")))
	f.Add([]byte(prettyEvent("a") + "\n" + event("b") + "\n" + prettyEvent("c")[:50] + "\n" + event("d")))
	f.Add([]byte("{\n\"id\": \"a\"\n} x\n" + event("b") + "\n[\n" + strings.Repeat("x", 3000) + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := fuzzOptions()
		lines := bytes.Count(data, []byte("\n")) + 1
		d := NewDecoder(bytes.NewReader(data), opts)

		var results int
		for {
			event, err := d.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			results++
			if results > lines {
				t.Fatalf("Next returned %d results for %d lines", results, lines)
			}
			if err != nil {
				fieldErr := checkError(t, err)
				if fieldErr.Line < 1 || fieldErr.Line > lines {
					t.Errorf("error line %d is outside 1..%d: %v", fieldErr.Line, lines, err)
				}
				continue
			}
			checkEvent(t, event, opts)
		}

		// Input of one line that needs no trimming gives what Normalize gives.
		if results == 1 && !bytes.ContainsAny(data, "\r\n") && !bytes.HasPrefix(data, utf8BOM) && len(data) <= opts.MaxEventBytes {
			d := NewDecoder(bytes.NewReader(data), opts)
			fromDecoder, decodeErr := d.Next()
			fromNormalize, normalizeErr := Normalize(data, opts)
			if (decodeErr == nil) != (normalizeErr == nil) {
				t.Fatalf("Decoder error %v, Normalize error %v", decodeErr, normalizeErr)
			}
			if decodeErr == nil {
				if diff := compareEvents(fromDecoder, fromNormalize); diff != "" {
					t.Errorf("Decoder and Normalize differ: %s", diff)
				}
			}
		}
	})
}
