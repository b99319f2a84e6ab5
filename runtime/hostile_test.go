package runtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

// rawSink records payloads as they are, binary included.
type rawSink struct {
	mu       sync.Mutex
	payloads [][]byte
}

func (r *rawSink) Publish(_ context.Context, p []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.payloads = append(r.payloads, bytes.Clone(p))
	return nil
}

func (r *rawSink) Close(context.Context) error { return nil }

func (r *rawSink) all() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.payloads...)
}

// statuses decodes a report of little-endian i32 entries.
func statuses(t *testing.T, report []byte, n int) []int32 {
	t.Helper()
	if len(report) != 4*n {
		t.Fatalf("report has %d bytes, want %d", len(report), 4*n)
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(report[4*i:]))
	}
	return out
}

// hostileEnv runs echo, a good listener, beside one hostile listener. Both
// emit to the sink "stdout": echo's payloads are the events, JSON objects
// starting with {"id", and the hostile guests' reports are binary.
type hostileEnv struct {
	rt   *Runtime
	out  *rawSink
	logs *logBuffer
}

func newHostileEnv(t *testing.T, hostile config.Listener) *hostileEnv {
	t.Helper()
	env := &hostileEnv{out: &rawSink{}, logs: &logBuffer{}}
	cfg := &config.Config{
		Issuer:    testIssuer,
		Sinks:     []config.Sink{{Name: "stdout", Type: "stdout"}},
		Listeners: []config.Listener{listenerFor("echo", "echo"), hostile},
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	rt, err := New(context.Background(), cfg,
		WithLogger(testLogger(env.logs)),
		WithSigner(testSigner(t)),
		WithSink("stdout", env.out))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	env.rt = rt
	return env
}

// split returns echo's payloads and the hostile guest's reports.
func (env *hostileEnv) split() (good []string, reports [][]byte) {
	for _, p := range env.out.all() {
		if bytes.HasPrefix(p, []byte(`{"id"`)) {
			good = append(good, string(p))
		} else {
			reports = append(reports, p)
		}
	}
	return good, reports
}

// dispatchAll sends n events and returns the hostile listener's errors.
func (env *hostileEnv) dispatchAll(t *testing.T, ids []string) []error {
	t.Helper()
	var hostileErrs []error
	for _, id := range ids {
		err := env.rt.Dispatch(context.Background(), testEvent(id))
		if err == nil {
			hostileErrs = append(hostileErrs, nil)
			continue
		}
		var de *DispatchError
		if !errors.As(err, &de) {
			t.Fatalf("Dispatch error %T %v, want *DispatchError", err, err)
		}
		for _, f := range de.Failures {
			if f.Listener == "echo" {
				t.Fatalf("good listener failed on %s: %v", id, f.Err)
			}
			hostileErrs = append(hostileErrs, f.Err)
		}
	}
	return hostileErrs
}

// checkGoodComplete fails unless echo emitted every event, in order.
func (env *hostileEnv) checkGoodComplete(t *testing.T, ids []string) {
	t.Helper()
	got, _ := env.split()
	if len(got) != len(ids) {
		t.Fatalf("good listener emitted %d events, want %d", len(got), len(ids))
	}
	for i, id := range ids {
		if want := string(intake.Encode(testEvent(id))); got[i] != want {
			t.Fatalf("good listener output %d = %s, want %s", i, got[i], want)
		}
	}
}

func kindOf(err error) FailKind {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return ""
}

func TestHostileGuestsContained(t *testing.T) {
	cases := []struct {
		guest    string
		kind     FailKind
		contains string
		deadline time.Duration
	}{
		// The deadline or the instruction budget may stop the loop first:
		// on a loaded machine the loop may get little CPU time.
		{guest: "loop", kind: FailTimeout, contains: "tw_on_event timed out"},
		{guest: "trap", kind: FailTrap, contains: "unreachable"},
		{guest: "stackoverflow", kind: FailTrap, contains: "stack", deadline: 30 * time.Second},
		{guest: "memgrow", kind: FailTrap, contains: "out of bounds memory access", deadline: 10 * time.Second},
		{guest: "exit", kind: FailExit, contains: "proc_exit(3)"},
	}
	for _, c := range cases {
		t.Run(c.guest, func(t *testing.T) {
			hostile := listenerFor(c.guest, c.guest)
			hostile.Deadline = config.Duration(50 * time.Millisecond)
			if c.deadline != 0 {
				hostile.Deadline = config.Duration(c.deadline)
			}
			hostile.MemoryLimit = 2 << 20
			hostile.PoolSize = 2
			env := newHostileEnv(t, hostile)

			ids := eventIDs(12)
			errs := env.dispatchAll(t, ids)
			env.checkGoodComplete(t, ids)
			if len(errs) != len(ids) {
				t.Fatalf("hostile listener failed on %d events, want %d", len(errs), len(ids))
			}
			for i := 0; i < backoffThreshold; i++ {
				if kindOf(errs[i]) != c.kind {
					t.Fatalf("event %d: error %v, want kind %s", i, errs[i], c.kind)
				}
				if !strings.Contains(errs[i].Error(), c.contains) {
					t.Errorf("event %d: error %q does not contain %q", i, errs[i], c.contains)
				}
			}
			if kindOf(errs[backoffThreshold]) != FailBackoff {
				t.Errorf("event %d after %d failures: %v, want kind backoff", backoffThreshold, backoffThreshold, errs[backoffThreshold])
			}

			status := env.rt.Listeners()[1]
			if status.Failures != int64(len(ids)) || status.Handled != int64(len(ids)) {
				t.Errorf("status handled %d failures %d, want %d each", status.Handled, status.Failures, len(ids))
			}
			if status.Instances > int64(hostile.PoolSize) {
				t.Errorf("status has %d instances, over the pool size %d", status.Instances, hostile.PoolSize)
			}
			if c.kind == FailTimeout && status.Timeouts != backoffThreshold {
				t.Errorf("status has %d timeouts, want %d", status.Timeouts, backoffThreshold)
			}
			mustContain(t, "logs", env.logs.String(), "listener backing off", "listener="+c.guest)

			// The host keeps serving the good listener afterwards.
			more := []string{"after-1", "after-2"}
			env.dispatchAll(t, more)
			env.checkGoodComplete(t, append(ids, more...))
		})
	}
}

func TestHostileOutOfBounds(t *testing.T) {
	env := newHostileEnv(t, listenerFor("oob", "oob"))
	ids := eventIDs(3)
	for _, err := range env.dispatchAll(t, ids) {
		if err != nil {
			t.Fatalf("oob failed: %v", err)
		}
	}
	env.checkGoodComplete(t, ids)
	_, reports := env.split()
	if len(reports) != len(ids) {
		t.Fatalf("oob emitted %d reports, want %d", len(reports), len(ids))
	}
	functions := []string{"event_read", "config_read", "log", "set_error", "sign", "result_read", "emit sink", "emit data"}
	for i, got := range statuses(t, reports[0], 32) {
		if abi.Status(got) != abi.StatusInvalidMemory {
			t.Errorf("%s with bad region %d = %d, want INVALID_MEMORY", functions[i/4], i%4, got)
		}
	}
}

func TestHostileSignAbuse(t *testing.T) {
	hostile := listenerFor("signabuse", "signabuse")
	hostile.Budgets.Signs = 12
	env := newHostileEnv(t, hostile)
	ids := eventIDs(2)
	for _, err := range env.dispatchAll(t, ids) {
		if err != nil {
			t.Fatalf("signabuse failed: %v", err)
		}
	}
	env.checkGoodComplete(t, ids)
	_, reports := env.split()
	if len(reports) != len(ids) {
		t.Fatalf("signabuse emitted %d reports, want %d", len(reports), len(ids))
	}
	r := statuses(t, reports[0], 14)
	names := []string{"ID-token-shaped claims", "forged iss", "exp", "empty events", "nonce", "not JSON", "event name not a URI"}
	for i, name := range names {
		if abi.Status(r[i]) != abi.StatusInvalidArgument {
			t.Errorf("sign %s = %d, want INVALID_ARGUMENT", name, r[i])
		}
	}
	if r[7] <= 0 || r[8] != r[7] {
		t.Errorf("valid sign = %d and result_read = %d, want the same positive length", r[7], r[8])
	}
	if r[9] != 4 || r[10] != 996 || r[11] != 0 {
		t.Errorf("loop: %d signed, %d LIMIT_EXCEEDED, %d other; want 4, 996, 0 with a budget of 12", r[9], r[10], r[11])
	}
	if abi.Status(r[13]) != abi.StatusLimitExceeded {
		t.Errorf("first refused loop call = %d, want LIMIT_EXCEEDED", r[13])
	}
}

func TestHostileSignNotPermitted(t *testing.T) {
	hostile := listenerFor("signabuse", "signabuse")
	hostile.Sign = false
	env := newHostileEnv(t, hostile)
	env.dispatchAll(t, eventIDs(1))
	_, reports := env.split()
	if len(reports) != 1 {
		t.Fatalf("signabuse emitted %d reports, want 1", len(reports))
	}
	r := statuses(t, reports[0], 14)
	for i := range 8 {
		if abi.Status(r[i]) != abi.StatusNotPermitted {
			t.Errorf("sign %d without the grant = %d, want NOT_PERMITTED", i, r[i])
		}
	}
}

func TestHostileLogFlood(t *testing.T) {
	hostile := listenerFor("logflood", "logflood")
	hostile.Deadline = config.Duration(10 * time.Second)
	env := newHostileEnv(t, hostile)
	ids := eventIDs(2)
	for _, err := range env.dispatchAll(t, ids) {
		if err != nil {
			t.Fatalf("logflood failed: %v", err)
		}
	}
	env.checkGoodComplete(t, ids)
	_, reports := env.split()
	if len(reports) != len(ids) {
		t.Fatalf("logflood emitted %d reports, want %d", len(reports), len(ids))
	}
	r := statuses(t, reports[0], 6)
	budget := int32(config.DefaultMaxLogLines)
	if r[0] != budget || r[1] != 1_000_000-budget || r[2] != 0 {
		t.Errorf("log calls: %d ok, %d LIMIT_EXCEEDED, %d other; want %d, %d, 0", r[0], r[1], r[2], budget, 1_000_000-budget)
	}
	// fd_write succeeds until the call has written the output limit,
	// 64 lines of up to 4096 bytes plus newline, then fails with EIO.
	const lineBytes = len("logflood: fd_write line\n")
	outputLimit := int32(config.DefaultMaxLogLines * (config.DefaultMaxLogBytes + 1))
	okWrites := outputLimit / int32(lineBytes)
	if r[3] != okWrites || r[4] != 100_000-okWrites {
		t.Errorf("fd_write calls: %d ok, %d failed; want %d, %d", r[3], r[4], okWrites, 100_000-okWrites)
	}
	logs := env.logs.String()
	if n := strings.Count(logs, "logflood: "); n != 2*int(budget) {
		t.Errorf("logs hold %d guest lines, want %d (the budget, for each of 2 events)", n, 2*budget)
	}
	// Dropped: the log calls over budget, every whole line written, and the
	// cut line of the write that reached the limit.
	dropped := 1_000_000 - budget + okWrites + 1
	mustContain(t, "logs", logs, "guest log budget exhausted", fmt.Sprintf("dropped_lines=%d", dropped))
}

func TestHostileTableBomb(t *testing.T) {
	_, err := tryEnv(t, listenerFor("tablebomb", "tablebomb"))
	if !errors.Is(err, ErrModule) {
		t.Fatalf("error = %v, want ErrModule", err)
	}
	mustContain(t, "error", err.Error(), "tables declare", "limit is 1048576")
}

func TestHostileTableGrow(t *testing.T) {
	env := newHostileEnv(t, listenerFor("tablegrow", "tablegrow"))
	ids := eventIDs(2)
	for _, err := range env.dispatchAll(t, ids) {
		if err != nil {
			t.Fatalf("tablegrow failed: %v", err)
		}
	}
	env.checkGoodComplete(t, ids)
	_, reports := env.split()
	if len(reports) != len(ids) {
		t.Fatalf("tablegrow emitted %d reports, want %d", len(reports), len(ids))
	}
	if got := statuses(t, reports[0], 1)[0]; got != -1 {
		t.Errorf("table.grow by 40M elements = %d, want -1", got)
	}
}

func TestHostileFdWriteBomb(t *testing.T) {
	env := newHostileEnv(t, listenerFor("fdwrite_bomb", "fdwrite_bomb"))
	ids := eventIDs(2)
	for _, err := range env.dispatchAll(t, ids) {
		if err != nil {
			t.Fatalf("fdwrite_bomb failed: %v", err)
		}
	}
	env.checkGoodComplete(t, ids)
	_, reports := env.split()
	if len(reports) != len(ids) {
		t.Fatalf("fdwrite_bomb emitted %d reports, want %d", len(reports), len(ids))
	}
	const eio = 29
	if got := statuses(t, reports[0], 1)[0]; got != eio {
		t.Errorf("fd_write of 3.2 GB returned errno %d, want %d (EIO)", got, eio)
	}
}

// TestLengthHeavyLoopsStopped runs guests whose loops do megabytes of work
// per iteration in one instruction or one host call. Counted only by their
// instructions they would run minutes past a 50 ms deadline before the
// next refuel checked it.
func TestLengthHeavyLoopsStopped(t *testing.T) {
	for _, guest := range []string{"fillloop", "randomloop"} {
		t.Run(guest, func(t *testing.T) {
			hostile := listenerFor(guest, guest)
			hostile.Deadline = config.Duration(50 * time.Millisecond)
			hostile.MemoryLimit = 8 << 20
			env := newHostileEnv(t, hostile)

			result := make(chan error, 1)
			go func() {
				result <- env.rt.DispatchEncoded(context.Background(), "evt-heavy", abi.EventIDTokenIssued, intake.Encode(testEvent("evt-heavy")))
			}()
			select {
			case err := <-result:
				if kindOf(err) != FailTimeout {
					t.Fatalf("dispatch error %v, want a timeout", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the loop still ran 20 s after its 50 ms deadline")
			}
		})
	}
}
