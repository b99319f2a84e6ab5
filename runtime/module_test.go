package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/runtime/config"
)

func TestLoadRejects(t *testing.T) {
	cases := []struct {
		guest string
		want  []string
	}{
		{"no_marker", []string{`missing export "tokenwire_abi_v1"`}},
		{"no_memory", []string{`missing export "memory"`}},
		{"no_on_event", []string{`missing export "tw_on_event"`}},
		{"bad_import", []string{`unknown import "env.foo"`, `"tokenwire" and "wasi_snapshot_preview1"`}},
		{"bad_host_func", []string{`unknown import "tokenwire.launch_missiles"`, "event_read, config_read"}},
		{"bad_signature", []string{`import "tokenwire.event_read" has type (i64) -> (i32)`, "(i32, i32) -> (i32)"}},
		{"on_event_bad_type", []string{`export "tw_on_event" has type () -> (i32)`, "(i32) -> (i32)"}},
		{"init_fails", []string{"tw_init failed: returned 1", "bad config"}},
		{"command", []string{"tw_init failed (trap)", "WASI command", "-buildmode=c-shared", "-mexec-model=reactor"}},
		{"abi_v2", []string{`exports "tokenwire_abi_v2"`, "supports only ABI v1"}},
		{"import_memory", []string{`unknown import "tokenwire.memory"`, "define and export its own memory"}},
	}
	for _, c := range cases {
		t.Run(c.guest, func(t *testing.T) {
			_, err := tryEnv(t, listenerFor(c.guest, c.guest))
			if err == nil {
				t.Fatal("runtime started, want a load error")
			}
			wantErr := ErrModule
			if c.guest == "init_fails" || c.guest == "command" {
				wantErr = ErrStart
			}
			if !errors.Is(err, wantErr) {
				t.Errorf("error %v does not wrap %v", err, wantErr)
			}
			msg := err.Error()
			mustContain(t, "error", msg, append(c.want, fmt.Sprintf("listener %q", c.guest), c.guest+".wasm")...)
		})
	}
}

func TestLoadRejectsBadBytes(t *testing.T) {
	dir := t.TempDir()
	cases := map[string][]byte{
		"empty":      {},
		"not wasm":   []byte("#!/bin/sh\necho hi\n"),
		"truncated":  []byte("\x00asm\x01\x00\x00\x00\x01"),
		"wasm magic": []byte("\x00asm"),
		// 15 bytes that declare 2^32-1 function bodies: wazero alone would
		// allocate them all and the process would run out of memory.
		"huge count": []byte("\x00asm\x01\x00\x00\x00\x0a\x05\xff\xff\xff\xff\x0f"),
	}
	for name, code := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".wasm")
			if err := os.WriteFile(path, code, 0o600); err != nil {
				t.Fatal(err)
			}
			lc := listenerFor("bad", "echo")
			lc.Module = path
			_, err := tryEnv(t, lc)
			if !errors.Is(err, ErrModule) {
				t.Fatalf("error = %v, want ErrModule", err)
			}
			mustContain(t, "error", err.Error(), path)
			if !strings.Contains(err.Error(), "compile") && !strings.Contains(err.Error(), "malformed") {
				t.Errorf("error %q says neither compile nor malformed", err)
			}
		})
	}
}

func TestLoadMissingModule(t *testing.T) {
	lc := listenerFor("gone", "echo")
	lc.Module = filepath.Join(t.TempDir(), "gone.wasm")
	_, err := tryEnv(t, lc)
	if !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("error = %v, want file not found", err)
	}
	mustContain(t, "error", err.Error(), "gone.wasm")
}

func TestLoadMemoryBelowModuleMinimum(t *testing.T) {
	lc := listenerFor("echo", "echo") // echo declares 2 pages
	lc.MemoryLimit = 64 << 10
	_, err := tryEnv(t, lc)
	if !errors.Is(err, ErrModule) {
		t.Fatalf("error = %v, want ErrModule", err)
	}
}

func TestLoadSignWithoutKey(t *testing.T) {
	cfg := &config.Config{Issuer: testIssuer, Listeners: []config.Listener{listenerFor("echo", "echo")}}
	cfg.Sinks = []config.Sink{{Name: "stdout", Type: "stdout"}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	_, err := New(context.Background(), cfg, WithLogger(testLogger(&logBuffer{})))
	if err == nil || !strings.Contains(err.Error(), "no signing key") {
		t.Fatalf("error = %v, want one about the missing signing key", err)
	}
}

func TestModuleInfo(t *testing.T) {
	env := newEnv(t, listenerFor("probe", "probe"))
	info := env.rt.Listeners()[0].ModuleInfo
	if len(info.SHA256) != 64 {
		t.Errorf("sha256 = %q, want 64 hex digits", info.SHA256)
	}
	if info.ABIVersion != 1 {
		t.Errorf("ABI version = %d, want 1", info.ABIVersion)
	}
	mustContain(t, "exports", strings.Join(info.Exports, ","), "memory", "tokenwire_abi_v1", "tw_on_event", "call_emit")
	if got := len(info.Imports); got != 7 {
		t.Errorf("imports = %v, want the 7 host functions", info.Imports)
	}
}

func TestDispatchRoutesByType(t *testing.T) {
	idOnly := listenerFor("ids", "echo")
	idOnly.Events = []string{"id_token.issued"}
	env := newEnv(t, idOnly)
	access := testEvent("a1")
	access.Type = "access_token.issued"
	if err := env.rt.Dispatch(context.Background(), access); err != nil {
		t.Fatal(err)
	}
	if err := env.rt.Dispatch(context.Background(), testEvent("i1")); err != nil {
		t.Fatal(err)
	}
	got := env.out.all()
	if len(got) != 1 || !strings.Contains(got[0], `"id":"i1"`) {
		t.Errorf("output = %q, want only the ID token event", got)
	}
}

func TestDispatchConcurrent(t *testing.T) {
	lc := listenerFor("echo", "echo")
	lc.PoolSize = 3
	env := newEnv(t, lc)
	const goroutines, perGoroutine = 8, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perGoroutine {
				if err := env.rt.Dispatch(context.Background(), testEvent(fmt.Sprintf("g%d-%d", g, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := env.out.all()
	if len(got) != goroutines*perGoroutine {
		t.Fatalf("emitted %d events, want %d", len(got), goroutines*perGoroutine)
	}
	seen := map[string]bool{}
	for _, line := range got {
		seen[line] = true
	}
	if len(seen) != goroutines*perGoroutine {
		t.Errorf("%d distinct events, want %d", len(seen), goroutines*perGoroutine)
	}
	if n := env.rt.Listeners()[0].Instances; n > 3 {
		t.Errorf("%d instances, over the pool size 3", n)
	}
}

func TestDispatchCorpus(t *testing.T) {
	env := newEnv(t, listenerFor("echo", "echo"))
	events := corpus(t)
	for _, ev := range events {
		if err := env.rt.Dispatch(context.Background(), ev); err != nil {
			t.Fatalf("event %s: %v", ev.ID, err)
		}
	}
	if got := len(env.out.all()); got != len(events) {
		t.Errorf("emitted %d events, want %d", got, len(events))
	}
}

func TestDispatchCanceledContext(t *testing.T) {
	lc := listenerFor("loop", "loop")
	lc.Deadline = config.Duration(10e9)
	env := newEnv(t, lc)
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	err := env.rt.Dispatch(ctx, testEvent("c1"))
	if kind := kindOf(err); kind != FailCanceled {
		t.Fatalf("error = %v, want kind canceled", err)
	}
	if f := env.rt.Listeners()[0].Failures; f != 0 {
		t.Errorf("a canceled call counted %d failures, want 0", f)
	}
}

func TestDispatchAfterClose(t *testing.T) {
	env := newEnv(t, listenerFor("echo", "echo"))
	if err := env.rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := env.rt.Dispatch(context.Background(), testEvent("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Dispatch after Close = %v, want ErrClosed", err)
	}
}

func TestBackoffSingleTrial(t *testing.T) {
	env := newEnv(t, listenerFor("trap", "trap"))
	l := env.rt.listener(0)
	for i := range backoffThreshold {
		_ = env.rt.Dispatch(context.Background(), testEvent(fmt.Sprint(i)))
	}
	err := env.rt.Dispatch(context.Background(), testEvent("skipped"))
	if kindOf(err) != FailBackoff {
		t.Fatalf("event after %d traps: %v, want kind backoff", backoffThreshold, err)
	}
	mustContain(t, "error", err.Error(), "skipped", "failed 5 times in a row")

	// Once the delay has passed, one event is the trial and others wait.
	l.mu.Lock()
	l.backoffUntil = time.Now().Add(-time.Millisecond)
	l.mu.Unlock()
	trial, skip := l.admit()
	if !trial || skip != nil {
		t.Fatalf("first admit after the delay: trial %t, skip %v; want the trial", trial, skip)
	}
	if _, skip := l.admit(); kindOf(skip) != FailBackoff || !strings.Contains(skip.Error(), "trial event is running") {
		t.Errorf("second admit during the trial: %v, want it skipped", skip)
	}

	// A successful trial closes the backoff.
	l.record("trial", nil, true)
	if trial, skip := l.admit(); trial || skip != nil {
		t.Errorf("admit after a successful trial: trial %t, skip %v; want a plain admission", trial, skip)
	}
	if l.failures != 0 {
		t.Errorf("failures = %d after recovery, want 0", l.failures)
	}
}

func TestCallerDeadlineNotBlamed(t *testing.T) {
	lc := listenerFor("loop", "loop")
	lc.Deadline = config.Duration(10 * time.Second)
	env := newEnv(t, lc)
	for i := range backoffThreshold + 1 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := env.rt.Dispatch(ctx, testEvent(fmt.Sprint(i)))
		cancel()
		if kindOf(err) != FailCanceled {
			t.Fatalf("event %d: %v, want kind canceled", i, err)
		}
		if strings.Contains(err.Error(), "10s") {
			t.Errorf("error %q names the listener's deadline", err)
		}
	}
	status := env.rt.Listeners()[0]
	if status.Failures != 0 || status.Timeouts != 0 || status.Skipped != 0 {
		t.Errorf("status failures %d, timeouts %d, skipped %d; want 0 for the caller's deadline", status.Failures, status.Timeouts, status.Skipped)
	}
}

func TestBackoffDisabled(t *testing.T) {
	cfg := &config.Config{Listeners: []config.Listener{{Name: "trap", Module: guestPath("trap")}}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	rt, err := New(context.Background(), cfg, WithLogger(testLogger(&logBuffer{})), WithBackoff(false))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	for i := range 2 * backoffThreshold {
		err := rt.Dispatch(context.Background(), testEvent(fmt.Sprint(i)))
		if kindOf(err) != FailTrap {
			t.Fatalf("event %d: %v, want a trap from the module itself", i, err)
		}
	}
}

func TestCloseDuringCall(t *testing.T) {
	lc := listenerFor("loop", "loop")
	lc.Deadline = config.Duration(time.Minute)
	env := newEnv(t, lc)
	done := make(chan error, 1)
	go func() { done <- env.rt.Dispatch(context.Background(), testEvent("long")) }()
	waitUntil(t, func() bool { return env.rt.listener(0).pool.events() == 1 })
	time.Sleep(20 * time.Millisecond) // let the call enter the guest

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_ = env.rt.Close(ctx)
	err := <-done
	if kind := kindOf(err); kind != FailCanceled {
		t.Errorf("call cut short by Close: %v, want kind canceled", err)
	}
	if strings.Contains(fmt.Sprint(err), "proc_exit") {
		t.Errorf("error %v blames the guest for proc_exit", err)
	}
	if f := env.rt.Listeners()[0].Failures; f != 0 {
		t.Errorf("Close counted %d failures, want 0", f)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStartDeadline(t *testing.T) {
	lc := listenerFor("init_loop", "init_loop")
	lc.StartDeadline = config.Duration(100 * time.Millisecond)
	_, err := tryEnv(t, lc)
	if !errors.Is(err, ErrStart) {
		t.Fatalf("error = %v, want ErrStart", err)
	}
	mustContain(t, "error", err.Error(), "tw_init timed out", "deadline 100ms exceeded")
}

// TestCloseShutsDownIdleInstances checks Close runs tw_shutdown on every
// idle instance, including the one the pool keeps outside its channels.
func TestCloseShutsDownIdleInstances(t *testing.T) {
	lc := listenerFor("shutdown", "shutdown")
	lc.PoolSize = 3
	env := newEnv(t, lc)
	// Three concurrent events make the pool create all three instances.
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := env.rt.Dispatch(context.Background(), testEvent(fmt.Sprint(i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	instances := env.rt.Listeners()[0].Instances
	if err := env.rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(env.out.all()); int64(got) != instances {
		t.Errorf("tw_shutdown emitted %d times, want once per instance (%d)", got, instances)
	}
}

// TestModuleWithUndefinedTypeRejected loads a module whose function section
// names type 48 of 2. wazero v1.12.0 panics while validating such a
// module, so it must be rejected before wazero compiles it.
func TestModuleWithUndefinedTypeRejected(t *testing.T) {
	code := []byte("\x00asm\x01\x00\x00\x00\x01\t\x02`\x01\x7f\x01\x7f`\x00\x00\x03\x04\x03\x0000\n\x18\x03\f\x00A0A0A0x\x10\x010\v\x02\x00\v\x06\x000000\v")
	lc := config.Listener{Name: "badtype", ModuleBytes: code, Sinks: []string{"stdout"}}
	_, err := tryEnv(t, lc)
	if err == nil || !strings.Contains(err.Error(), "type 48") {
		t.Fatalf("New error = %v, want one naming type 48", err)
	}
}
