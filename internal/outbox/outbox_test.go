package outbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestQueueSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s := openStore(t, path)
	q, err := s.Queue("siem", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := q.Enqueue([]byte(fmt.Sprintf("p%02d", i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	recs, err := q.Peek(10)
	if err != nil || len(recs) != 10 {
		t.Fatalf("Peek = %d records, %v; want 10", len(recs), err)
	}
	if err := q.Settle(Settlement{Delivered: []uint64{recs[0].Seq, recs[1].Seq}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, path)
	q2, err := s2.Queue("siem", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if n, b := q2.Len(); n != 48 || b != 48*3 {
		t.Errorf("reopened queue holds %d payloads, %d bytes; want 48, 144", n, b)
	}
	rest, err := q2.Peek(0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(rest); i++ {
		if rest[i].Seq <= rest[i-1].Seq {
			t.Fatalf("records out of order: %d after %d", rest[i].Seq, rest[i-1].Seq)
		}
	}
}

func TestQueueBounds(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "outbox.db"))
	for _, tc := range []struct {
		name   string
		limits Limits
		fits   int
	}{
		{"entries", Limits{MaxEntries: 3}, 3},
		{"bytes", Limits{MaxBytes: 20}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := s.Queue(tc.name, tc.limits)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.fits {
				if _, err := q.Enqueue([]byte("0123456789")); err != nil {
					t.Fatalf("payload %d: %v", i, err)
				}
			}
			if !q.Full() {
				t.Error("Full() = false at the bound")
			}
			if _, err := q.Enqueue([]byte("0123456789")); !errors.Is(err, ErrFull) {
				t.Fatalf("Enqueue past the bound = %v, want ErrFull", err)
			}
			recs, _ := q.Peek(1)
			if err := q.Settle(Settlement{Delivered: []uint64{recs[0].Seq}}); err != nil {
				t.Fatal(err)
			}
			if _, err := q.Enqueue([]byte("0123456789")); err != nil {
				t.Errorf("Enqueue after a delivery freed room: %v", err)
			}
		})
	}
}

func TestDeadLetterReplayDrop(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "outbox.db"))
	q, _ := s.Queue("siem", Limits{})
	for _, p := range []string{"a", "b", "c"} {
		if _, err := q.Enqueue([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	recs, _ := q.Peek(0)
	for i := range recs {
		recs[i].Reason = "test"
	}
	if err := q.Settle(Settlement{Dead: recs}); err != nil {
		t.Fatal(err)
	}
	dead, _ := q.DeadLetters()
	if n, _ := q.Len(); n != 0 || len(dead) != 3 || dead[0].Reason != "test" || string(dead[2].Payload) != "c" {
		t.Fatalf("after dead-lettering: queue %d, dead %+v", n, dead)
	}
	if n, err := q.Replay([]uint64{dead[0].Seq}); n != 1 || err != nil {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	if n, err := q.Drop(nil); n != 2 || err != nil {
		t.Fatalf("Drop(all) = %d, %v", n, err)
	}
	back, _ := q.Peek(0)
	if len(back) != 1 || string(back[0].Payload) != "a" || back[0].Attempts != 0 {
		t.Errorf("replayed queue = %+v, want payload a with no attempts", back)
	}
}

// scriptDriver fails while down is set and records what it delivers.
type scriptDriver struct {
	mu        sync.Mutex
	down      bool
	permanent map[string]bool
	got       []string
	calls     int
}

func (d *scriptDriver) Deliver(_ context.Context, msgs []Record) []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.down {
		return AllFailed(errors.New("receiver down"), len(msgs))
	}
	var errs []error
	for i, m := range msgs {
		if d.permanent[string(m.Payload)] {
			if errs == nil {
				errs = make([]error, len(msgs))
			}
			errs[i] = Permanent(errors.New("bad payload"))
			continue
		}
		d.got = append(d.got, string(m.Payload))
	}
	return errs
}

func (d *scriptDriver) Close() error { return nil }

func (d *scriptDriver) set(down bool) {
	d.mu.Lock()
	d.down = down
	d.mu.Unlock()
}

func (d *scriptDriver) delivered() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestDelivererRetriesBreaksAndRecovers(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "outbox.db"))
	q, _ := s.Queue("siem", Limits{})
	d := &scriptDriver{down: true, permanent: map[string]bool{"poison": true}}
	dl := Deliver(q, d, Policy{BackoffInitial: time.Millisecond, BackoffMax: 4 * time.Millisecond, BreakerFailures: 3, BreakerCooldown: 50 * time.Millisecond, MaxAttempts: 1000}, quiet)
	defer dl.Stop()
	for _, p := range []string{"a", "poison", "b"} {
		if _, err := q.Enqueue([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the breaker to open", func() bool { return dl.Breaker() != BreakerClosed })
	d.mu.Lock()
	calls := d.calls
	d.mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	d.mu.Lock()
	if d.calls > calls+1 {
		t.Errorf("open breaker let %d rounds through in 30ms", d.calls-calls)
	}
	d.mu.Unlock()
	d.set(false)
	waitFor(t, "delivery after recovery", func() bool { n, _ := q.Len(); return n == 0 })
	if got := d.delivered(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("delivered %q, want [a b] in order", got)
	}
	if dl.Breaker() != BreakerClosed {
		t.Errorf("breaker %s after recovery, want closed", dl.Breaker())
	}
	dead, _ := q.DeadLetters()
	if len(dead) != 1 || string(dead[0].Payload) != "poison" {
		t.Errorf("dead letters %+v, want the permanently rejected payload", dead)
	}
}

func TestDelivererGivesUp(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "outbox.db"))
	for _, tc := range []struct {
		name   string
		policy Policy
	}{
		{"attempts", Policy{MaxAttempts: 3}},
		{"age", Policy{MaxAttempts: 1000, MaxAge: time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := s.Queue(tc.name, Limits{})
			p := tc.policy
			p.BackoffInitial, p.BackoffMax, p.BreakerFailures = time.Millisecond, time.Millisecond, 1000
			dl := Deliver(q, &scriptDriver{down: true}, p, quiet)
			defer dl.Stop()
			if _, err := q.Enqueue([]byte("x")); err != nil {
				t.Fatal(err)
			}
			// Len counts drop just after the transaction commits, so wait
			// for both.
			waitFor(t, "the dead letter", func() bool {
				d, _ := q.DeadLetters()
				n, _ := q.Len()
				return len(d) == 1 && n == 0
			})
			dead, _ := q.DeadLetters()
			if tc.name == "attempts" && dead[0].Attempts != 3 {
				t.Errorf("dead letter after %d attempts, want 3", dead[0].Attempts)
			}
		})
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	p := Policy{BackoffInitial: 100 * time.Millisecond, BackoffMax: time.Second}
	p.fill()
	for _, tc := range []struct {
		failures int
		lo, hi   time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{10, 500 * time.Millisecond, time.Second},
	} {
		for range 100 {
			if d := p.backoff(tc.failures); d < tc.lo || d > tc.hi {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", tc.failures, d, tc.lo, tc.hi)
			}
		}
	}
}
