// Package meter_test runs the usage-metering listener, rust/meter.wasm, in
// the real runtime.
package meter_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/tokenwire/tokenwire/abi"
	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
)

// lineSink records each payload.
type lineSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *lineSink) Publish(_ context.Context, p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, string(p))
	return nil
}

func (s *lineSink) Close(context.Context) error { return nil }

func (s *lineSink) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func start(t *testing.T, configJSON string) (*twruntime.Runtime, *lineSink, error) {
	t.Helper()
	out := &lineSink{}
	cfg := &config.Config{
		Issuer: "https://issuer.example.com",
		Sinks:  []config.Sink{{Name: "stdout", Type: "stdout"}},
		Listeners: []config.Listener{{
			Name:       "meter",
			Module:     "rust/meter.wasm",
			ConfigJSON: []byte(configJSON),
			Sinks:      []string{"stdout"},
			PoolSize:   1,
		}},
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	rt, err := twruntime.New(context.Background(), cfg,
		twruntime.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		twruntime.WithSink("stdout", out))
	return rt, out, err
}

func event(id, eventType, client string, time int64) *abi.Event {
	return &abi.Event{ID: id, Type: eventType, Time: time, Issuer: "https://op.example.com",
		ClientID: client, Claims: []byte(`{"iat":1}`)}
}

func TestMeterCountsPerWindow(t *testing.T) {
	rt, out, err := start(t, `{"window_seconds":60}`)
	if err != nil {
		t.Fatal(err)
	}
	events := []*abi.Event{
		event("1", abi.EventIDTokenIssued, "app", 100),
		event("2", abi.EventAccessTokenIssued, "app", 110),
		event("3", abi.EventAccessTokenIssued, `"quoted" <client>`, 119),
		event("4", abi.EventAccessTokenIssued, "app", 130), // next window: emits 60
		event("5", abi.EventIDTokenIssued, "late", 50),     // earlier window: late
	}
	for _, ev := range events {
		if err := rt.Dispatch(context.Background(), ev); err != nil {
			t.Fatalf("event %s: %v", ev.ID, err)
		}
	}
	first := `{"window_start":60,"window_seconds":60,"events":3,"late":0,"clients":{"\"quoted\" \u003cclient\u003e":{"access_token":1,"id_token":0},"app":{"access_token":1,"id_token":1}}}`
	if got := out.snapshot(); len(got) != 1 || got[0] != first {
		t.Fatalf("before close: %q, want [%s]", got, first)
	}
	// Close runs tw_shutdown, which emits the open window.
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := `{"window_start":120,"window_seconds":60,"events":2,"late":1,"clients":{"app":{"access_token":1,"id_token":0},"late":{"access_token":0,"id_token":1}}}`
	if got := out.snapshot(); len(got) != 2 || got[1] != second {
		t.Errorf("after close: %q, want the second line %s", got, second)
	}
}

func TestMeterBadConfig(t *testing.T) {
	for _, c := range []string{`{"window_seconds":0}`, `{"window_seconds":"60"}`, `{"sink":""}`, `{"other":1}`} {
		t.Run(c, func(t *testing.T) {
			rt, _, err := start(t, c)
			if err == nil {
				_ = rt.Close(context.Background())
			}
			if !errors.Is(err, twruntime.ErrStart) || !strings.Contains(err.Error(), "meter: invalid config") {
				t.Errorf("error = %v, want tw_init to fail with the config error", err)
			}
		})
	}
}
