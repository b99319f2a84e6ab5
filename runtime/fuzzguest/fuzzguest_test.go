package fuzzguest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/internal/fuzz"
	"github.com/tokenwire/tokenwire/runtime/config"
)

// recorder is a testing.TB that keeps the errors a check reports.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

const planted = "../../examples/fuzzing/planted/planted.wasm"

// TestRunnerFindsPlantedBug feeds fuzzer-style inputs to the planted guest
// with its unicode defect on, and expects a failing input among them.
func TestRunnerFindsPlantedBug(t *testing.T) {
	cases := []struct{ bug, want string }{
		{"unicode-subject", "not valid UTF-8"},
		{"sign-exp", `"exp"`},
	}
	for _, c := range cases {
		t.Run(c.bug, func(t *testing.T) {
			cfg, index, err := load(planted, Options{Config: `{"bug":"` + c.bug + `"}`})
			if err != nil {
				t.Fatal(err)
			}
			r := &runner{spec: fuzz.Spec{Config: cfg, Listener: index}}
			defer r.close()
			rec := &recorder{TB: t}
			for i := range 2000 {
				r.run(rec, []byte(fmt.Sprintf("%08d", i)))
				if len(rec.errors) > 0 {
					break
				}
			}
			if len(rec.errors) == 0 || !strings.Contains(rec.errors[0], c.want) {
				t.Fatalf("errors %q, want one that mentions %s", rec.errors, c.want)
			}
		})
	}
}

// TestRunnerCleanGuest runs the same inputs through the clean guest.
func TestRunnerCleanGuest(t *testing.T) {
	cfg, index, err := load(planted, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The race detector and a loaded machine can slow a large event past
	// the default 500ms. This guest never loops, so a longer deadline keeps
	// the test about findings only.
	cfg.Listeners[index].Deadline = config.Duration(10 * time.Second)
	r := &runner{spec: fuzz.Spec{Config: cfg, Listener: index}}
	defer r.close()
	rec := &recorder{TB: t}
	for _, seed := range fuzz.BuiltinSeeds() {
		r.run(rec, seed)
	}
	for i := range 300 {
		r.run(rec, []byte(fmt.Sprintf("%08d", i)))
	}
	if len(rec.errors) > 0 {
		t.Fatalf("clean guest: %q", rec.errors)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, _, err := load("no-such.wasm", Options{}); err == nil || !strings.Contains(err.Error(), "read module") {
		t.Errorf("missing module: %v", err)
	}
	if _, _, err := load(planted, Options{ConfigFile: "no-such.yaml"}); err == nil {
		t.Error("missing config file: no error")
	}
}
