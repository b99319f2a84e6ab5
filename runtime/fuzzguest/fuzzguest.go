// Package fuzzguest fuzzes a tokenwire listener module with go test -fuzz.
//
// A listener author adds a fuzz target to a _test.go file:
//
//	func FuzzListener(f *testing.F) {
//		fuzzguest.Fuzz(f, "listener.wasm", fuzzguest.Options{Config: `{"sink":"stdout"}`})
//	}
//
// and runs it:
//
//	go test -run '^$' -fuzz FuzzListener -fuzztime 60s
//
// Without -fuzz, go test runs the seed events only, so the target also
// works as a regression test. The fuzzing engine's bytes become structured
// token-issue events (real claim shapes from several issuers, unicode, big
// and odd numbers, deep nesting, long values, missing members), and each
// event runs through the module under the runtime's own limits. A test
// fails when the module traps, runs past its deadline, calls proc_exit,
// fails to start, panics in a Go handler, takes memory near its limit,
// passes a bad pointer to a host function, uses up a per-call budget,
// carries on after a failed host call, passes claims to sign that the SET
// rules reject, or emits to a sink it was not granted. The same checks run in
// "tokenwire fuzz", which adds coverage, leak and determinism checks and
// minimises what it finds.
package fuzzguest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/tokenwire/tokenwire/internal/fuzz"
	"github.com/tokenwire/tokenwire/runtime/config"
)

// Options configures Fuzz. The zero value fuzzes the module the way
// "tokenwire replay --module" runs it: every event type, signing granted,
// a stdout sink granted, config "{}", and the default limits.
type Options struct {
	// Config is the listener config JSON passed to tw_init. Empty means
	// "{}". Ignored with ConfigFile.
	Config string
	// ConfigFile is a tokenwire YAML config; the listener whose module is
	// the module given to Fuzz is fuzzed with its limits, grants, sinks
	// and config.
	ConfigFile string
	// Listener picks the listener of ConfigFile by name, when several use
	// the module.
	Listener string
}

// Fuzz adds the built-in seed events to f and fuzzes the module at path
// with f.Fuzz. It fails the test when the module cannot be read or loaded.
func Fuzz(f *testing.F, path string, opts Options) {
	f.Helper()
	cfg, index, err := load(path, opts)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range fuzz.BuiltinSeeds() {
		f.Add(seed)
	}
	for i := range 8 {
		f.Add([]byte{byte(i), byte(i * 37), byte(i * 101)})
	}

	r := &runner{spec: fuzz.Spec{Config: cfg, Listener: index}, maxBytes: int(cfg.Intake.MaxEventBytes)}
	f.Cleanup(r.close)
	// Compiling a Go module takes seconds in a fuzzing worker, because its
	// code is instrumented. Done here, it does not count against the
	// engine's time limit for one input.
	if err := r.start(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) { r.run(t, data) })
}

// runner checks the inputs of one fuzz target, with one listener instance
// started on first use.
type runner struct {
	spec     fuzz.Spec
	maxBytes int

	mu      sync.Mutex
	checker *fuzz.Checker
}

// run turns data into an event, runs it and reports each finding with
// t.Errorf.
func (r *runner) run(t testing.TB, data []byte) {
	t.Helper()
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	event := fuzz.EventFromBytes(data, r.maxBytes)
	findings, _ := r.checker.Check(context.Background(), event)
	for _, finding := range findings {
		t.Errorf("%s\nevent (%d bytes): %s", finding, len(event), excerpt(event))
	}
}

// excerpt returns event, cut to 4 KiB; the fuzzing engine saves the whole
// input that failed.
func excerpt(event []byte) string {
	const max = 4 << 10
	if len(event) <= max {
		return string(event)
	}
	return string(event[:max]) + "..."
}

// start starts the listener unless it runs.
func (r *runner) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checker != nil {
		return nil
	}
	c, err := fuzz.NewChecker(context.Background(), r.spec)
	if err != nil {
		return err
	}
	r.checker = c
	return nil
}

func (r *runner) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checker != nil {
		r.checker.Close(context.Background())
		r.checker = nil
	}
}

// load reads the module and builds its listener config.
func load(path string, opts Options) (*config.Config, int, error) {
	code, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("fuzzguest: read module: %w", err)
	}
	if opts.ConfigFile == "" {
		cfg, err := fuzz.AdHoc(code, path, opts.Config)
		if err != nil {
			return nil, 0, fmt.Errorf("fuzzguest: %w", err)
		}
		return cfg, 0, nil
	}
	cfg, err := config.Load(opts.ConfigFile)
	if err != nil {
		return nil, 0, fmt.Errorf("fuzzguest: %w", err)
	}
	index, err := fuzz.FindListener(cfg, path, opts.Listener)
	if err != nil {
		return nil, 0, fmt.Errorf("fuzzguest: %w", err)
	}
	cfg.Listeners[index].ModuleBytes = code
	return cfg, index, nil
}
