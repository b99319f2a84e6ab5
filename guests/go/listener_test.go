package listener_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tokenwire/tokenwire/abi"
	listener "github.com/tokenwire/tokenwire/guests/go"
	"github.com/tokenwire/tokenwire/guests/go/listenertest"
)

// newHost installs a fake host, clears the handlers of earlier tests and
// registers handleEvent.
func newHost(t *testing.T, handleEvent func(*listener.Event) error) *listenertest.Host {
	t.Helper()
	h := listenertest.New(t)
	listener.ResetHandlers()
	t.Cleanup(listener.ResetHandlers)
	listener.HandleEvent(handleEvent)
	return h
}

func ignoreEvent(*listener.Event) error { return nil }

// failureOf returns err as a *listenertest.Failure or fails t.
func failureOf(t *testing.T, err error) *listenertest.Failure {
	t.Helper()
	var failure *listenertest.Failure
	if !errors.As(err, &failure) {
		t.Fatalf("error = %v, want a *listenertest.Failure", err)
	}
	return failure
}

const aliceEvent = `{"id":"evt-1","type":"id_token.issued","time":1523304728,` +
	`"issuer":"https://op.example","client_id":"app","subject":"alice",` +
	`"claims":{"sub":"alice","iat":1523304728,"big":123456789012345678901234567890,"nested":{"a":[1, 2]}},` +
	`"context":{"grant_type":"authorization_code"}}`

func TestDeliverDecodesEvent(t *testing.T) {
	var got abi.Event
	var bigClaim, missing string
	var hasMissing bool
	h := newHost(t, func(e *listener.Event) error {
		got = e.Event
		got.Claims = append(json.RawMessage(nil), e.Claims...)
		got.Context = append(json.RawMessage(nil), e.Context...)
		big, _ := e.Claim("big")
		bigClaim = string(big)
		raw, ok := e.Claim("missing")
		missing, hasMissing = string(raw), ok
		return nil
	})
	if err := h.Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if err := h.DeliverJSON([]byte(aliceEvent)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}

	if got.ID != "evt-1" {
		t.Errorf("ID = %q, want %q", got.ID, "evt-1")
	}
	if got.Type != abi.EventIDTokenIssued {
		t.Errorf("Type = %q, want %q", got.Type, abi.EventIDTokenIssued)
	}
	if got.Time != 1523304728 {
		t.Errorf("Time = %d, want 1523304728", got.Time)
	}
	if got.Issuer != "https://op.example" || got.ClientID != "app" || got.Subject != "alice" {
		t.Errorf("Issuer, ClientID, Subject = %q, %q, %q; want https://op.example, app, alice",
			got.Issuer, got.ClientID, got.Subject)
	}
	if string(got.Context) != `{"grant_type":"authorization_code"}` {
		t.Errorf("Context = %s", got.Context)
	}
	if bigClaim != "123456789012345678901234567890" {
		t.Errorf(`Claim("big") = %s, want the exact 30-digit integer`, bigClaim)
	}
	if hasMissing || missing != "" {
		t.Errorf(`Claim("missing") = %q, %v; want "", false`, missing, hasMissing)
	}
}

func TestDeliverReusesEventWithoutLeaks(t *testing.T) {
	type seen struct {
		subject  string
		context  string
		hasSub   bool
		claimLen int
	}
	var events []seen
	h := newHost(t, func(e *listener.Event) error {
		claims, err := e.ClaimMap()
		if err != nil {
			return err
		}
		_, hasSub := e.Claim("sub")
		events = append(events, seen{e.Subject, string(e.Context), hasSub, len(claims)})
		return nil
	})
	if err := h.Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
	second := `{"id":"evt-2","type":"access_token.issued","time":1,"issuer":"https://op.example",` +
		`"client_id":"svc","claims":{"scope":"read"}}`
	for _, event := range []string{aliceEvent, second} {
		if err := h.DeliverJSON([]byte(event)); err != nil {
			t.Fatalf("DeliverJSON: %v", err)
		}
	}

	if len(events) != 2 {
		t.Fatalf("handler ran %d times, want 2", len(events))
	}
	if events[1].subject != "" {
		t.Errorf("second event Subject = %q, want empty", events[1].subject)
	}
	if events[1].context != "" {
		t.Errorf("second event Context = %q, want empty", events[1].context)
	}
	if events[1].hasSub {
		t.Error(`second event has claim "sub" left over from the first event`)
	}
	if events[1].claimLen != 1 {
		t.Errorf("second event has %d claims, want 1", events[1].claimLen)
	}
}

func TestEventTypeHelpers(t *testing.T) {
	var idToken, accessToken bool
	h := newHost(t, func(e *listener.Event) error {
		idToken, accessToken = e.IsIDToken(), e.IsAccessToken()
		return nil
	})
	err := h.Deliver(abi.Event{ID: "a", Type: abi.EventAccessTokenIssued, Claims: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if idToken || !accessToken {
		t.Errorf("IsIDToken, IsAccessToken = %v, %v; want false, true", idToken, accessToken)
	}
}

func TestDecodeClaimsAndContext(t *testing.T) {
	var claims struct {
		Sub string `json:"sub"`
		Iat int64  `json:"iat"`
	}
	var context struct {
		GrantType string `json:"grant_type"`
	}
	h := newHost(t, func(e *listener.Event) error {
		if err := e.DecodeClaims(&claims); err != nil {
			return err
		}
		return e.DecodeContext(&context)
	})
	if err := h.DeliverJSON([]byte(aliceEvent)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}
	if claims.Sub != "alice" || claims.Iat != 1523304728 {
		t.Errorf("claims = %+v, want sub alice and iat 1523304728", claims)
	}
	if context.GrantType != "authorization_code" {
		t.Errorf("context grant_type = %q, want authorization_code", context.GrantType)
	}
}

func TestClaimMapInvalidClaims(t *testing.T) {
	var mapErr error
	var found bool
	h := newHost(t, func(e *listener.Event) error {
		_, mapErr = e.ClaimMap()
		_, found = e.Claim("sub")
		return nil
	})
	event := `{"id":"evt-1","type":"id_token.issued","claims":["not","an","object"]}`
	if err := h.DeliverJSON([]byte(event)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}
	if mapErr == nil {
		t.Error("ClaimMap accepted claims that are a JSON array")
	}
	if found {
		t.Error(`Claim("sub") found a claim in claims that are a JSON array`)
	}
}

func TestHandlerErrorFailsEvent(t *testing.T) {
	h := newHost(t, func(*listener.Event) error { return errors.New("sink rejected the event") })
	failure := failureOf(t, h.DeliverJSON([]byte(aliceEvent)))
	if failure.Export != "tw_on_event" || failure.Code != 1 {
		t.Errorf("failure = %s returned %d, want tw_on_event returned 1", failure.Export, failure.Code)
	}
	if failure.Message != "sink rejected the event" {
		t.Errorf("failure message = %q, want %q", failure.Message, "sink rejected the event")
	}
}

func TestHandlerPanicFailsEvent(t *testing.T) {
	h := newHost(t, func(*listener.Event) error { panic("boom") })
	failure := failureOf(t, h.DeliverJSON([]byte(aliceEvent)))
	if failure.Message != "listener: panic: boom" {
		t.Errorf("failure message = %q, want %q", failure.Message, "listener: panic: boom")
	}
	if len(h.Logs) != 1 {
		t.Fatalf("logged %d lines, want 1 with the stack", len(h.Logs))
	}
	if h.Logs[0].Level != listener.LevelError {
		t.Errorf("panic log level = %v, want error", h.Logs[0].Level)
	}
	if !strings.Contains(h.Logs[0].Message, "goroutine") {
		t.Errorf("panic log line has no stack trace: %q", h.Logs[0].Message)
	}

	// The SDK keeps working after a recovered panic.
	listener.ResetHandlers()
	listener.HandleEvent(ignoreEvent)
	if err := h.DeliverJSON([]byte(aliceEvent)); err != nil {
		t.Errorf("DeliverJSON after a panic: %v", err)
	}
}

func TestInvalidEventJSONFailsEvent(t *testing.T) {
	called := false
	h := newHost(t, func(*listener.Event) error {
		called = true
		return nil
	})
	failure := failureOf(t, h.DeliverJSON([]byte(`{"id":`)))
	if !strings.HasPrefix(failure.Message, "listener: invalid event JSON: ") {
		t.Errorf("failure message = %q, want the invalid event JSON error", failure.Message)
	}
	if called {
		t.Error("handler ran for invalid event JSON")
	}
}

func TestInitPassesConfig(t *testing.T) {
	h := newHost(t, ignoreEvent)
	var got string
	listener.HandleInit(func(config []byte) error {
		got = string(config)
		return nil
	})
	h.Config = []byte(`{"sink":"audit"}`)
	if err := h.Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if got != `{"sink":"audit"}` {
		t.Errorf("init handler config = %s, want {\"sink\":\"audit\"}", got)
	}
	if string(listener.Config()) != `{"sink":"audit"}` {
		t.Errorf("Config() = %s, want {\"sink\":\"audit\"}", listener.Config())
	}
}

func TestInitWithoutConfig(t *testing.T) {
	h := newHost(t, ignoreEvent)
	if err := h.Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if string(listener.Config()) != "{}" {
		t.Errorf("Config() = %s, want {}", listener.Config())
	}
}

func TestInitErrorFailsStart(t *testing.T) {
	h := newHost(t, ignoreEvent)
	listener.HandleInit(func([]byte) error { return errors.New(`config: missing "sink"`) })
	failure := failureOf(t, h.Init())
	if failure.Export != "tw_init" || failure.Code != 1 {
		t.Errorf("failure = %s returned %d, want tw_init returned 1", failure.Export, failure.Code)
	}
	if failure.Message != `config: missing "sink"` {
		t.Errorf("failure message = %q", failure.Message)
	}
}

func TestInitPanicFailsStart(t *testing.T) {
	h := newHost(t, ignoreEvent)
	listener.HandleInit(func([]byte) error { panic("bad config") })
	failure := failureOf(t, h.Init())
	if failure.Message != "listener: panic: bad config" {
		t.Errorf("failure message = %q, want %q", failure.Message, "listener: panic: bad config")
	}
}

func TestInitWithoutEventHandlerFails(t *testing.T) {
	h := newHost(t, ignoreEvent)
	listener.ResetHandlers()
	failure := failureOf(t, h.Init())
	if !strings.Contains(failure.Message, "no event handler registered") {
		t.Errorf("failure message = %q, want it to name the missing event handler", failure.Message)
	}
}

func TestShutdownRunsHandler(t *testing.T) {
	h := newHost(t, ignoreEvent)
	called := false
	listener.HandleShutdown(func() { called = true })
	h.Shutdown()
	if !called {
		t.Error("shutdown handler did not run")
	}
}

func TestShutdownPanicLogged(t *testing.T) {
	h := newHost(t, ignoreEvent)
	listener.HandleShutdown(func() { panic("flush failed") })
	h.Shutdown()
	if len(h.Logs) != 1 || !strings.Contains(h.Logs[0].Message, "flush failed") {
		t.Errorf("logs = %+v, want one line with the panic value", h.Logs)
	}
}

func TestShutdownWithoutHandler(t *testing.T) {
	h := newHost(t, ignoreEvent)
	h.Shutdown()
}

func TestHandleTwicePanics(t *testing.T) {
	newHost(t, ignoreEvent)
	defer func() {
		if recover() == nil {
			t.Error("second HandleEvent did not panic")
		}
	}()
	listener.HandleEvent(ignoreEvent)
}

func TestHandleNilPanics(t *testing.T) {
	newHost(t, ignoreEvent)
	defer func() {
		if recover() == nil {
			t.Error("HandleInit(nil) did not panic")
		}
	}()
	listener.HandleInit(nil)
}

const validClaims = `{"txn":"evt-1","events":{"https://example.com/event":{"a":1}}}`

func TestSignReturnsToken(t *testing.T) {
	var token string
	h := newHost(t, func(*listener.Event) error {
		var err error
		token, err = listener.Sign([]byte(validClaims))
		return err
	})
	if err := h.DeliverJSON([]byte(aliceEvent)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}
	payload, err := listenertest.DecodePayload(token)
	if err != nil {
		t.Fatalf("DecodePayload(%q): %v", token, err)
	}
	want := `{"events":{"https://example.com/event":{"a":1}},"iat":1700000000,` +
		`"iss":"https://listenertest.invalid","jti":"jti-1","txn":"evt-1"}`
	if string(payload) != want {
		t.Errorf("payload = %s\nwant      %s", payload, want)
	}
	if len(h.Signed) != 1 || string(h.Signed[0]) != validClaims {
		t.Errorf("signed claims = %q, want [%s]", h.Signed, validClaims)
	}
}

func TestSignJSONMarshals(t *testing.T) {
	var token string
	h := newHost(t, func(*listener.Event) error {
		var err error
		token, err = listener.SignJSON(map[string]any{
			"events": map[string]any{"urn:example:event": map[string]any{}},
		})
		return err
	})
	if err := h.DeliverJSON([]byte(aliceEvent)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}
	if token == "" {
		t.Error("SignJSON returned an empty token")
	}
	if string(h.Signed[0]) != `{"events":{"urn:example:event":{}}}` {
		t.Errorf("signed claims = %s", h.Signed[0])
	}
}

func TestSignRejectsInvalidClaims(t *testing.T) {
	cases := map[string]string{
		"not an object":        `["events"]`,
		"no events":            `{"txn":"1"}`,
		"events not an object": `{"events":"x"}`,
		"relative event URI":   `{"events":{"token-issued":{}}}`,
		"event value a string": `{"events":{"https://example.com/e":"x"}}`,
		"exp":                  `{"exp":1,"events":{"https://example.com/e":{}}}`,
		"nonce":                `{"nonce":"n","events":{"https://example.com/e":{}}}`,
	}
	for name, claims := range cases {
		t.Run(name, func(t *testing.T) {
			var signErr error
			h := newHost(t, func(*listener.Event) error {
				_, signErr = listener.Sign([]byte(claims))
				return nil
			})
			if err := h.DeliverJSON([]byte(aliceEvent)); err != nil {
				t.Fatalf("DeliverJSON: %v", err)
			}
			if !errors.Is(signErr, abi.StatusInvalidArgument) {
				t.Errorf("Sign error = %v, want %v", signErr, abi.StatusInvalidArgument)
			}
		})
	}
}

func TestSignReturnsSignerStatus(t *testing.T) {
	var signErr error
	h := newHost(t, func(*listener.Event) error {
		_, signErr = listener.Sign([]byte(validClaims))
		return nil
	})
	h.Signer = func([]byte) (string, error) { return "", abi.StatusNotPermitted }
	if err := h.DeliverJSON([]byte(aliceEvent)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}
	if !errors.Is(signErr, abi.StatusNotPermitted) {
		t.Errorf("Sign error = %v, want %v", signErr, abi.StatusNotPermitted)
	}
}

func TestSignLongResult(t *testing.T) {
	long := strings.Repeat("x", 100000)
	var token string
	h := newHost(t, func(*listener.Event) error {
		var err error
		token, err = listener.Sign([]byte(validClaims))
		return err
	})
	h.Signer = func([]byte) (string, error) { return long, nil }
	if err := h.DeliverJSON([]byte(aliceEvent)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}
	if token != long {
		t.Errorf("Sign returned %d bytes, want %d", len(token), len(long))
	}
}

func TestEmitRecordsData(t *testing.T) {
	h := newHost(t, func(*listener.Event) error {
		buf := []byte("first")
		if err := listener.Emit("stdout", buf); err != nil {
			return err
		}
		copy(buf, "reuse")
		return listener.Emit("audit", buf)
	})
	if err := h.DeliverJSON([]byte(aliceEvent)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}
	want := []listenertest.Emit{{Sink: "stdout", Data: []byte("first")}, {Sink: "audit", Data: []byte("reuse")}}
	if len(h.Emits) != len(want) {
		t.Fatalf("emits = %q, want %q", h.Emits, want)
	}
	for i := range want {
		if h.Emits[i].Sink != want[i].Sink || string(h.Emits[i].Data) != string(want[i].Data) {
			t.Errorf("emit %d = %s %q, want %s %q", i, h.Emits[i].Sink, h.Emits[i].Data, want[i].Sink, want[i].Data)
		}
	}
}

func TestEmitReturnsEmitterStatus(t *testing.T) {
	var emitErr error
	h := newHost(t, func(*listener.Event) error {
		emitErr = listener.Emit("queue", []byte("x"))
		return nil
	})
	h.Emitter = func(string, []byte) error { return abi.StatusUnavailable }
	if err := h.DeliverJSON([]byte(aliceEvent)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}
	if !errors.Is(emitErr, abi.StatusUnavailable) {
		t.Errorf("Emit error = %v, want %v", emitErr, abi.StatusUnavailable)
	}
	if len(h.Emits) != 0 {
		t.Errorf("recorded %d emits that the emitter rejected", len(h.Emits))
	}
}

func TestLogLevels(t *testing.T) {
	h := newHost(t, func(*listener.Event) error {
		listener.Debug("d")
		listener.Info("i")
		listener.Warn("w")
		listener.Error("e")
		listener.Log(listener.Level(7), "dropped")
		return nil
	})
	if err := h.DeliverJSON([]byte(aliceEvent)); err != nil {
		t.Fatalf("DeliverJSON: %v", err)
	}
	want := []listenertest.LogEntry{
		{Level: listener.LevelDebug, Message: "d"},
		{Level: listener.LevelInfo, Message: "i"},
		{Level: listener.LevelWarn, Message: "w"},
		{Level: listener.LevelError, Message: "e"},
	}
	if len(h.Logs) != len(want) {
		t.Fatalf("logs = %+v, want %+v", h.Logs, want)
	}
	for i := range want {
		if h.Logs[i] != want[i] {
			t.Errorf("log %d = %+v, want %+v", i, h.Logs[i], want[i])
		}
	}
}

func TestLevelString(t *testing.T) {
	cases := map[listener.Level]string{
		listener.LevelDebug: "debug",
		listener.LevelInfo:  "info",
		listener.LevelWarn:  "warn",
		listener.LevelError: "error",
		listener.Level(9):   "level(9)",
	}
	for level, want := range cases {
		if got := level.String(); got != want {
			t.Errorf("Level(%d).String() = %q, want %q", int32(level), got, want)
		}
	}
}
