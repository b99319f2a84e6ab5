package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/guests/go/listenertest"
)

const idTokenEvent = `{"id":"evt-1","type":"id_token.issued","time":1523304728,` +
	`"issuer":"https://op.example","client_id":"app","subject":"alice",` +
	`"claims":{"sub":"alice","iat":1523304728}}`

const accessTokenEvent = `{"id":"evt-2","type":"access_token.issued","time":1523304729,` +
	`"issuer":"https://op.example","client_id":"batch-job","claims":{"scope":"read"}}`

// startAudit installs a fake host with config and runs tw_init.
func startAudit(t *testing.T, config string) *listenertest.Host {
	t.Helper()
	h := listenertest.New(t)
	if config != "" {
		h.Config = []byte(config)
	}
	if err := h.Init(); err != nil {
		t.Fatalf("Init with config %s: %v", config, err)
	}
	return h
}

// deliverOne delivers event and returns the claims the listener signed and
// the one emit it made.
func deliverOne(t *testing.T, h *listenertest.Host, event string) (string, listenertest.Emit) {
	t.Helper()
	if err := h.DeliverJSON([]byte(event)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}
	if len(h.Signed) != 1 {
		t.Fatalf("signed %d claim sets, want 1", len(h.Signed))
	}
	if len(h.Emits) != 1 {
		t.Fatalf("emitted %d times, want 1", len(h.Emits))
	}
	return string(h.Signed[0]), h.Emits[0]
}

func TestAuditIDToken(t *testing.T) {
	h := startAudit(t, "")
	claims, emitted := deliverOne(t, h, idTokenEvent)

	wantClaims := `{"txn":"evt-1",` +
		`"sub_id":{"format":"iss_sub","iss":"https://op.example","sub":"alice"},` +
		`"events":{"https://tokenwire.dev/secevent/token-issued":` +
		`{"token_type":"id_token","client_id":"app","issued_at":1523304728,"event_id":"evt-1"}}}`
	if claims != wantClaims {
		t.Errorf("signed claims:\n got %s\nwant %s", claims, wantClaims)
	}
	if emitted.Sink != "stdout" {
		t.Errorf("sink = %q, want stdout", emitted.Sink)
	}

	payload, err := listenertest.DecodePayload(string(emitted.Data))
	if err != nil {
		t.Fatalf("emitted data is not a compact JWS: %v", err)
	}
	wantPayload := `{"events":{"https://tokenwire.dev/secevent/token-issued":` +
		`{"token_type":"id_token","client_id":"app","issued_at":1523304728,"event_id":"evt-1"}},` +
		`"iat":1700000000,"iss":"https://listenertest.invalid","jti":"jti-1",` +
		`"sub_id":{"format":"iss_sub","iss":"https://op.example","sub":"alice"},"txn":"evt-1"}`
	if string(payload) != wantPayload {
		t.Errorf("emitted SET payload:\n got %s\nwant %s", payload, wantPayload)
	}
}

func TestAuditAccessTokenWithoutSubject(t *testing.T) {
	h := startAudit(t, `{"sink":"siem"}`)
	claims, emitted := deliverOne(t, h, accessTokenEvent)

	wantClaims := `{"txn":"evt-2",` +
		`"sub_id":{"format":"opaque","id":"batch-job"},` +
		`"events":{"https://tokenwire.dev/secevent/token-issued":` +
		`{"token_type":"access_token","client_id":"batch-job","issued_at":1523304729,"event_id":"evt-2"}}}`
	if claims != wantClaims {
		t.Errorf("signed claims:\n got %s\nwant %s", claims, wantClaims)
	}
	if emitted.Sink != "siem" {
		t.Errorf("sink = %q, want siem", emitted.Sink)
	}
}

func TestAuditEmitsSignerToken(t *testing.T) {
	h := startAudit(t, "")
	h.Signer = func([]byte) (string, error) { return "aGVhZGVy.cGF5bG9hZA.c2ln", nil }
	_, emitted := deliverOne(t, h, idTokenEvent)
	if string(emitted.Data) != "aGVhZGVy.cGF5bG9hZA.c2ln" {
		t.Errorf("emitted %q, want the signer's token unchanged", emitted.Data)
	}
}

func TestAuditAudience(t *testing.T) {
	cases := []struct {
		name, config, wantPrefix string
	}{
		{"string", `{"audience":"https://siem.example"}`, `{"aud":"https://siem.example","txn":"evt-1",`},
		{"array", `{"audience":[ "a", "b" ]}`, `{"aud":["a","b"],"txn":"evt-1",`},
		{"array of one", `{"audience":["a"]}`, `{"aud":["a"],"txn":"evt-1",`},
		{"none", `{}`, `{"txn":"evt-1",`},
		{"null", `{"audience":null}`, `{"txn":"evt-1",`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := startAudit(t, tc.config)
			claims, _ := deliverOne(t, h, idTokenEvent)
			if !strings.HasPrefix(claims, tc.wantPrefix) {
				t.Errorf("signed claims %s, want prefix %s", claims, tc.wantPrefix)
			}
		})
	}
}

func TestAuditConfigErrors(t *testing.T) {
	cases := []struct {
		name, config, wantMessage string
	}{
		{"invalid JSON", `{"sink":`, "audit: invalid config: "},
		{"unknown field", `{"snk":"stdout"}`, `audit: invalid config: json: unknown field "snk"`},
		{"empty sink", `{"sink":""}`, `audit: invalid config: "sink" must not be empty: omit it to use "stdout"`},
		{"sink not a string", `{"sink":3}`, "audit: invalid config: "},
		{"audience number", `{"audience":3}`, `audit: invalid config: "audience" must be a string or an array of strings, got 3`},
		{"audience array of numbers", `{"audience":[1]}`, `audit: invalid config: "audience" must be a string or an array of strings, got [1]`},
		{"audience empty string", `{"audience":""}`, `audit: invalid config: "audience" must not be empty`},
		{"audience empty array", `{"audience":[]}`, `audit: invalid config: "audience" must not be an empty array`},
		{"audience empty element", `{"audience":["a",""]}`, `audit: invalid config: "audience" element 1 is empty`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := listenertest.New(t)
			h.Config = []byte(tc.config)
			err := h.Init()
			var failure *listenertest.Failure
			if !errors.As(err, &failure) {
				t.Fatalf("Init error = %v, want a failure", err)
			}
			if !strings.HasPrefix(failure.Message, tc.wantMessage) {
				t.Errorf("failure message = %q, want prefix %q", failure.Message, tc.wantMessage)
			}
		})
	}
}

func TestAuditSignFailure(t *testing.T) {
	h := startAudit(t, "")
	h.Signer = func([]byte) (string, error) { return "", abi.StatusNotPermitted }
	err := h.DeliverJSON([]byte(idTokenEvent))
	var failure *listenertest.Failure
	if !errors.As(err, &failure) {
		t.Fatalf("DeliverJSON error = %v, want a failure", err)
	}
	want := "audit: sign SET for event evt-1: tokenwire: NOT_PERMITTED"
	if failure.Message != want {
		t.Errorf("failure message = %q, want %q", failure.Message, want)
	}
	if len(h.Emits) != 0 {
		t.Errorf("emitted %d times after a failed sign, want 0", len(h.Emits))
	}
}

func TestAuditEmitFailure(t *testing.T) {
	h := startAudit(t, `{"sink":"siem"}`)
	h.Emitter = func(string, []byte) error { return abi.StatusUnavailable }
	err := h.DeliverJSON([]byte(idTokenEvent))
	var failure *listenertest.Failure
	if !errors.As(err, &failure) {
		t.Fatalf("DeliverJSON error = %v, want a failure", err)
	}
	want := `audit: emit SET for event evt-1 to sink "siem": tokenwire: UNAVAILABLE`
	if failure.Message != want {
		t.Errorf("failure message = %q, want %q", failure.Message, want)
	}
}

func TestAuditUnsupportedEventType(t *testing.T) {
	h := startAudit(t, "")
	err := h.DeliverJSON([]byte(`{"id":"evt-9","type":"refresh_token.issued","claims":{}}`))
	var failure *listenertest.Failure
	if !errors.As(err, &failure) {
		t.Fatalf("DeliverJSON error = %v, want a failure", err)
	}
	want := `audit: event evt-9 has unsupported type "refresh_token.issued"`
	if failure.Message != want {
		t.Errorf("failure message = %q, want %q", failure.Message, want)
	}
	if len(h.Signed) != 0 {
		t.Errorf("signed %d claim sets for an unsupported event, want 0", len(h.Signed))
	}
}

func TestAuditConfigReplacedOnInit(t *testing.T) {
	h := startAudit(t, `{"sink":"siem","audience":"a"}`)
	h.Config = []byte(`{}`)
	if err := h.Init(); err != nil {
		t.Fatalf("second Init: %v", err)
	}
	claims, emitted := deliverOne(t, h, idTokenEvent)
	if emitted.Sink != "stdout" {
		t.Errorf("sink = %q after re-init with {}, want stdout", emitted.Sink)
	}
	if strings.Contains(claims, `"aud"`) {
		t.Errorf("claims %s keep the audience of the earlier config", claims)
	}
}
