package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/guests/go/listenertest"
)

const aliceIDToken = `{"id":"evt-1","type":"id_token.issued","time":1523304728,` +
	`"issuer":"https://op.example","client_id":"app","subject":"alice",` +
	`"claims":{"iss":"https://op.example","sub":"alice","aud":"app","iat":1523304728,"exp":1523308328}}`

const serviceAccessToken = `{"id":"evt-2","type":"access_token.issued","time":1523304729,` +
	`"issuer":"https://op.example","client_id":"svc",` +
	`"claims":{"iat":1523304729, "scope":"read write", "account":123456789012345678901234567890,` +
	`"cnf":{ "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" }}}`

// startFilter installs a fake host with config and runs tw_init.
func startFilter(t *testing.T, config string) *listenertest.Host {
	t.Helper()
	h := listenertest.New(t)
	h.Config = []byte(config)
	if err := h.Init(); err != nil {
		t.Fatalf("Init with config %s: %v", config, err)
	}
	return h
}

// outputOf delivers event and returns the data of the one emit it caused.
func outputOf(t *testing.T, h *listenertest.Host, event string) string {
	t.Helper()
	h.Emits = nil
	if err := h.DeliverJSON([]byte(event)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}
	if len(h.Emits) != 1 {
		t.Fatalf("emitted %d times, want 1", len(h.Emits))
	}
	return string(h.Emits[0].Data)
}

func TestFilterSubAndIat(t *testing.T) {
	h := startFilter(t, `{"claims":["sub","iat"]}`)
	got := outputOf(t, h, aliceIDToken)
	if want := `{"sub":"alice","iat":1523304728}`; got != want {
		t.Errorf("output = %s, want %s", got, want)
	}
	if h.Emits[0].Sink != "stdout" {
		t.Errorf("sink = %q, want stdout", h.Emits[0].Sink)
	}
}

func TestFilterKeepsConfiguredOrder(t *testing.T) {
	h := startFilter(t, `{"claims":["iat","sub"]}`)
	if got, want := outputOf(t, h, aliceIDToken), `{"iat":1523304728,"sub":"alice"}`; got != want {
		t.Errorf("output = %s, want %s", got, want)
	}
}

func TestFilterSkipsMissingClaims(t *testing.T) {
	h := startFilter(t, `{"claims":["sub","nonce","iat"]}`)
	if got, want := outputOf(t, h, aliceIDToken), `{"sub":"alice","iat":1523304728}`; got != want {
		t.Errorf("output = %s, want %s", got, want)
	}
}

func TestFilterKeepsBigIntegersAndCompacts(t *testing.T) {
	h := startFilter(t, `{"claims":["account","cnf","scope"]}`)
	got := outputOf(t, h, serviceAccessToken)
	want := `{"account":123456789012345678901234567890,` +
		`"cnf":{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"},"scope":"read write"}`
	if got != want {
		t.Errorf("output = %s, want %s", got, want)
	}
}

func TestFilterAppendsSortedProperties(t *testing.T) {
	h := startFilter(t, `{"claims":["sub"],"sink":"audit",`+
		`"properties":{"source":"tokenwire","env":{ "region": "eu" },"version":2}}`)
	got := outputOf(t, h, aliceIDToken)
	want := `{"sub":"alice","env":{"region":"eu"},"source":"tokenwire","version":2}`
	if got != want {
		t.Errorf("output = %s, want %s", got, want)
	}
	if h.Emits[0].Sink != "audit" {
		t.Errorf("sink = %q, want audit", h.Emits[0].Sink)
	}
}

func TestFilterPropertiesWithoutClaims(t *testing.T) {
	h := startFilter(t, `{"claims":["nonce"],"properties":{"source":"tokenwire"}}`)
	if got, want := outputOf(t, h, aliceIDToken), `{"source":"tokenwire"}`; got != want {
		t.Errorf("output = %s, want %s", got, want)
	}
}

func TestFilterEmptyClaimList(t *testing.T) {
	h := startFilter(t, `{"claims":[]}`)
	if got, want := outputOf(t, h, aliceIDToken), `{}`; got != want {
		t.Errorf("output = %s, want %s", got, want)
	}
}

func TestFilterEventTypes(t *testing.T) {
	h := startFilter(t, `{"claims":["iat"],"events":["access_token.issued"]}`)
	if err := h.DeliverJSON([]byte(aliceIDToken)); err != nil {
		t.Fatalf("DeliverJSON ID token: %v", err)
	}
	if len(h.Emits) != 0 {
		t.Errorf("emitted %q for an ID token although events lists only access tokens", h.Emits[0].Data)
	}
	if got, want := outputOf(t, h, serviceAccessToken), `{"iat":1523304729}`; got != want {
		t.Errorf("output = %s, want %s", got, want)
	}
}

func TestFilterReusedBufferPerEvent(t *testing.T) {
	h := startFilter(t, `{"claims":["sub","iat"]}`)
	if err := h.DeliverJSON([]byte(aliceIDToken)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}
	if err := h.DeliverJSON([]byte(serviceAccessToken)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}
	want := []string{`{"sub":"alice","iat":1523304728}`, `{"iat":1523304729}`}
	if len(h.Emits) != len(want) {
		t.Fatalf("emitted %d times, want %d", len(h.Emits), len(want))
	}
	for i := range want {
		if string(h.Emits[i].Data) != want[i] {
			t.Errorf("emit %d = %s, want %s", i, h.Emits[i].Data, want[i])
		}
	}
}

func TestFilterConfigErrors(t *testing.T) {
	cases := []struct {
		name, config, wantMessage string
	}{
		{"missing claims", `{"sink":"stdout"}`,
			`claimfilter: invalid config: missing "claims", the list of claim names to copy`},
		{"null claims", `{"claims":null}`,
			`claimfilter: invalid config: missing "claims", the list of claim names to copy`},
		{"property is a claim", `{"claims":["sub","iat"],"properties":{"source":"x","iat":0}}`,
			`claimfilter: invalid config: property "iat" is also listed in "claims"`},
		{"duplicate claim", `{"claims":["sub","sub"]}`,
			`claimfilter: invalid config: "claims" lists "sub" twice`},
		{"empty claim name", `{"claims":["sub",""]}`,
			`claimfilter: invalid config: "claims" contains an empty name`},
		{"unknown event type", `{"claims":["sub"],"events":["id_token.issue"]}`,
			`claimfilter: invalid config: "events" contains unknown event type "id_token.issue"`},
		{"empty events", `{"claims":["sub"],"events":[]}`,
			`claimfilter: invalid config: "events" is empty: omit it to handle every event type`},
		{"unknown field", `{"claims":["sub"],"claim":["iat"]}`,
			`claimfilter: invalid config: json: unknown field "claim"`},
		{"claims not a list", `{"claims":"sub"}`, "claimfilter: invalid config: json: "},
		{"invalid JSON", `{"claims":[`, "claimfilter: invalid config: "},
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

func TestFilterNoConfigFails(t *testing.T) {
	h := listenertest.New(t)
	var failure *listenertest.Failure
	if !errors.As(h.Init(), &failure) {
		t.Fatal("Init without config succeeded, want a missing claims failure")
	}
	if !strings.Contains(failure.Message, `missing "claims"`) {
		t.Errorf("failure message = %q, want it to name the missing claims", failure.Message)
	}
}

func TestFilterEmitFailure(t *testing.T) {
	h := startFilter(t, `{"claims":["sub"],"sink":"queue"}`)
	h.Emitter = func(string, []byte) error { return abi.StatusNotPermitted }
	err := h.DeliverJSON([]byte(aliceIDToken))
	var failure *listenertest.Failure
	if !errors.As(err, &failure) {
		t.Fatalf("DeliverJSON error = %v, want a failure", err)
	}
	want := `claimfilter: emit event evt-1 to sink "queue": tokenwire: NOT_PERMITTED`
	if failure.Message != want {
		t.Errorf("failure message = %q, want %q", failure.Message, want)
	}
}

func TestFilterInvalidClaims(t *testing.T) {
	h := startFilter(t, `{"claims":["sub"]}`)
	err := h.DeliverJSON([]byte(`{"id":"evt-3","type":"id_token.issued","claims":"not an object"}`))
	var failure *listenertest.Failure
	if !errors.As(err, &failure) {
		t.Fatalf("DeliverJSON error = %v, want a failure", err)
	}
	if !strings.HasPrefix(failure.Message, "listener: event evt-3: invalid claims: ") {
		t.Errorf("failure message = %q, want the invalid claims error", failure.Message)
	}
}
