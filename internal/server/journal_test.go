package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/internal/outbox"
	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

// newJournaledServer is newTestServer with an intake journal and the
// given congestion check.
func newJournaledServer(t *testing.T, out *blockingSink, journal *outbox.Queue, congested func() string) (*Server, *httptest.Server) {
	t.Helper()
	cfg := &config.Config{
		Issuer: "https://issuer.example.com",
		Intake: config.Intake{QueueSize: 16, Workers: 1},
		Sinks:  []config.Sink{{Name: "stdout", Type: "stdout"}},
		Listeners: []config.Listener{{
			Name:     "echo",
			Module:   filepath.Join("..", "..", "testdata", "guests", "echo.wasm"),
			Sinks:    []string{"stdout"},
			Deadline: config.Duration(time.Minute),
		}},
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := twruntime.New(context.Background(), cfg, twruntime.WithLogger(logger), twruntime.WithSink("stdout", out))
	if err != nil {
		t.Fatal(err)
	}
	srv := New(rt, cfg.Intake, intake.Options{DefaultIssuer: cfg.Issuer, MaxEventBytes: int(cfg.Intake.MaxEventBytes)}, logger,
		WithJournal(journal), WithCongestion(congested, 3*time.Second))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		_ = rt.Close(context.Background())
	})
	return srv, ts
}

func openJournal(t *testing.T) *outbox.Queue {
	t.Helper()
	s, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	q, err := s.Journal(outbox.Limits{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func journalLen(q *outbox.Queue) int {
	n, _ := q.Len()
	return n
}

func TestJournalHoldsEventUntilDispatched(t *testing.T) {
	out := &blockingSink{release: make(chan struct{})}
	journal := openJournal(t)
	_, ts := newJournaledServer(t, out, journal, func() string { return "" })

	resp, body := post(t, ts.URL, event("e1")+"\n"+event("e2"))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST = %d, want 202: %s", resp.StatusCode, body)
	}
	// The sink blocks the dispatch, so both events are still journaled.
	if n := journalLen(journal); n != 2 {
		t.Fatalf("journal holds %d events after the 202, want 2", n)
	}
	close(out.release)
	waitFor(t, func() bool { return journalLen(journal) == 0 })
	if n := out.published(); n != 2 {
		t.Errorf("sink got %d payloads, want 2", n)
	}
}

func TestRecoverDispatchesJournal(t *testing.T) {
	journal := openJournal(t)
	for _, id := range []string{"r1", "r2", "r3"} {
		ev, err := intake.NewDecoder(strings.NewReader(event(id)), intake.Options{MaxEventBytes: 1 << 16}).Next()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := journal.Enqueue(intake.Encode(ev)); err != nil {
			t.Fatal(err)
		}
	}
	out := &blockingSink{release: make(chan struct{})}
	close(out.release)
	srv, _ := newJournaledServer(t, out, journal, func() string { return "" })
	n, err := srv.Recover(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("Recover = %d, %v; want 3", n, err)
	}
	waitFor(t, func() bool { return journalLen(journal) == 0 })
	if got := out.published(); got != 3 {
		t.Errorf("sink got %d payloads, want the 3 journaled events", got)
	}
}

func TestCongestedSinkAnswers503(t *testing.T) {
	out := &blockingSink{release: make(chan struct{})}
	close(out.release)
	journal := openJournal(t)
	_, ts := newJournaledServer(t, out, journal, func() string { return "siem" })
	resp, body := post(t, ts.URL, event("e1"))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("POST with a full sink queue = %d, Retry-After %q; want 503 and 3", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, `sink \"siem\"`) {
		t.Errorf("503 body does not name the sink: %s", body)
	}
	if n := journalLen(journal); n != 0 {
		t.Errorf("a refused event was journaled (%d)", n)
	}
}
