// Package outboxtest holds helpers for tests of outbox drivers.
package outboxtest

import (
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/internal/outbox"
)

// Quiet is a logger that discards everything.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// FastRetry retries after a few milliseconds and never gives up or opens
// the breaker, so delivery resumes soon after a receiver comes back.
var FastRetry = outbox.Policy{
	Timeout:         2 * time.Second,
	BackoffInitial:  5 * time.Millisecond,
	BackoffMax:      50 * time.Millisecond,
	BreakerFailures: 1_000_000,
	MaxAttempts:     1_000_000,
}

// Queue opens a store in a temporary directory, closed when the test ends,
// and returns its queue named name.
func Queue(t testing.TB, name string) *outbox.Queue {
	t.Helper()
	s, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	q, err := s.Queue(name, outbox.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// Enqueue adds each payload to q.
func Enqueue(t testing.TB, q *outbox.Queue, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		if _, err := q.Enqueue([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
}

// WaitEmpty waits until q is empty, and fails the test after timeout.
func WaitEmpty(t testing.TB, q *outbox.Queue, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for n, _ := q.Len(); n > 0; n, _ = q.Len() {
		if time.Now().After(deadline) {
			t.Fatalf("%d payloads still queued after %s", n, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FreePort returns a loopback TCP port that nothing listened on a moment
// ago, for a server the test starts later.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
