package fuzz

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/runtime/config"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const plantedModule = "../../examples/fuzzing/planted/planted.wasm"

// plantedBudget is the number of runs within which the fuzzer must find
// each planted defect, with seed 1 and the built-in seed events. The
// leak check runs at min(1000, runs/2), so the leak needs the most.
var plantedBudget = map[string]struct {
	kind   string
	detail string
	runs   int64
}{
	"unicode-subject": {KindPanic, "not valid UTF-8", 2000},
	"leak":            {KindLeak, "grew", 2000},
	"deep-loop":       {KindTimeout, "timed out", 2000},
	"sign-exp":        {KindSignRejected, "exp", 2000},
	"rare-client":     {KindPanic, "index out of range", 3000},
}

// skipUnderRace skips a test that fuzzes long or compiles a module of its
// own. Under the race detector it runs many times slower and loads the
// machine that other packages' timing tests share. TestJobsShareFindings
// covers the concurrent paths.
func skipUnderRace(t *testing.T) {
	if raceEnabled {
		t.Skip("fuzzes thousands of events; run it without -race")
	}
}

func TestFindsPlantedBugs(t *testing.T) {
	skipUnderRace(t)
	module := readFile(t, plantedModule)
	for bug, want := range plantedBudget {
		t.Run(bug, func(t *testing.T) {
			cfg, err := AdHoc(module, "planted.wasm", `{"bug":"`+bug+`"}`)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			rep, err := Run(context.Background(), Options{
				Spec:        Spec{Config: cfg},
				Runs:        want.runs,
				Seed:        1,
				Seeds:       BuiltinSeeds(),
				CrashersDir: dir,
				Stop:        func(f Finding) bool { return f.Kind == want.kind },
			})
			if err != nil {
				t.Fatal(err)
			}
			var found *Finding
			for i, f := range rep.Findings {
				if f.Kind == want.kind && strings.Contains(f.Detail, want.detail) {
					found = &rep.Findings[i]
				}
			}
			if found == nil {
				t.Fatalf("no %s finding within %d runs; findings: %v", want.kind, want.runs, rep.Findings)
			}
			t.Logf("%s after %d runs, %s: %.200s", found, found.Runs, found.Elapsed, found.Input)
			if found.File == "" {
				t.Fatal("the finding's input was not written")
			}
			written := readFile(t, found.File)
			if got := strings.TrimSpace(string(written)); got != string(found.Input) {
				t.Errorf("written input %q, want %q", got, found.Input)
			}
			if _, err := os.Stat(strings.TrimSuffix(found.File, ".json") + ".txt"); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestCleanGuestsHaveNoFindings runs the clean planted guest and the two
// example listeners; each must show nothing.
func TestCleanGuestsHaveNoFindings(t *testing.T) {
	skipUnderRace(t)
	cases := []struct{ name, module, config string }{
		{"planted", plantedModule, `{}`},
		{"audit", "../../examples/audit/audit.wasm", `{"sink":"stdout"}`},
		{"claimfilter", "../../examples/claimfilter/claimfilter.wasm", `{"claims":["sub","iat","aud","email"]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := AdHoc(readFile(t, c.module), c.module, c.config)
			if err != nil {
				t.Fatal(err)
			}
			noLoops(cfg)
			rep, err := Run(context.Background(), Options{
				Spec: Spec{Config: cfg}, Runs: 1200, Seed: 1, Seeds: BuiltinSeeds(), LeakRuns: 256,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", rep.Stats)
			for _, f := range rep.Findings {
				t.Errorf("%s: input %.300s", f, f.Input)
			}
			if rep.Runs < 1200 {
				t.Errorf("ran %d events, want 1200", rep.Runs)
			}
		})
	}
}

// noLoops gives the listener of cfg a 10s deadline. The race detector and
// a loaded machine can slow a large event past the default 500ms, so tests
// of guests that never loop use it to report findings other than timeouts.
func noLoops(cfg *config.Config) {
	cfg.Listeners[0].Deadline = config.Duration(10 * time.Second)
}

func TestInitFailure(t *testing.T) {
	cfg, err := AdHoc(readFile(t, plantedModule), "planted.wasm", `{"bug":"no-such-bug"}`)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), Options{Spec: Spec{Config: cfg}, Runs: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Kind != KindInit || !strings.Contains(rep.Findings[0].Detail, "unknown bug") {
		t.Fatalf("findings %v, want one init finding naming the unknown bug", rep.Findings)
	}
}

// TestHostileGuests runs WAT guests that trap, loop, exit and misuse host
// calls on every event.
func TestHostileGuests(t *testing.T) {
	cases := []struct {
		guest, kind string
		// failsAll is set for a guest whose every event fails, so the
		// run's Failed count must equal its Runs count.
		failsAll bool
	}{
		{"trap", KindTrap, true},
		{"loop", KindTimeout, true},
		{"exit", KindExit, true},
		{"oob", KindInvalidMemory, false},
		{"init_fails", KindInit, false},
		{"signabuse", KindSignRejected, false},
		{"logflood", KindBudget, false},
		{"memgrow", KindMemoryCap, false},
		{"memgrow", KindTrap, false},
	}
	for _, c := range cases {
		t.Run(c.guest, func(t *testing.T) {
			path := filepath.Join("../../testdata/guests", c.guest+".wasm")
			cfg, err := AdHoc(readFile(t, path), path, "")
			if err != nil {
				t.Fatal(err)
			}
			cfg.Listeners[0].Deadline = config.Duration(50 * time.Millisecond)
			cfg.Listeners[0].MemoryLimit = 1 << 20
			rep, err := Run(context.Background(), Options{Spec: Spec{Config: cfg}, Runs: 4, Seed: 1, Seeds: BuiltinSeeds()[:2], LeakRuns: -1})
			if err != nil {
				t.Fatal(err)
			}
			if c.failsAll && (rep.Runs == 0 || rep.Failed != rep.Runs) {
				t.Errorf("stats: %d runs, %d failed; want every run counted as failed", rep.Runs, rep.Failed)
			}
			for _, f := range rep.Findings {
				if f.Kind == c.kind {
					return
				}
			}
			t.Fatalf("no %s finding: %v", c.kind, rep.Findings)
		})
	}
}

func TestSeedsMatchTestdata(t *testing.T) {
	if string(readFile(t, "../../testdata/events/corpus.ndjson")) != string(builtinSeeds) {
		t.Fatal("internal/fuzz/seeds.ndjson differs from testdata/events/corpus.ndjson: copy it over")
	}
}

func TestDeterminismCheck(t *testing.T) {
	module := readFile(t, plantedModule)
	for _, c := range []struct {
		bug  string
		want int
	}{{"random-output", 1}, {"", 0}} {
		t.Run(c.bug, func(t *testing.T) {
			cfg, err := AdHoc(module, "planted.wasm", `{"bug":"`+c.bug+`"}`)
			if err != nil {
				t.Fatal(err)
			}
			noLoops(cfg)
			rep, err := Run(context.Background(), Options{
				Spec: Spec{Config: cfg}, Runs: 20, Seed: 1, Seeds: BuiltinSeeds()[:5], Determinism: true, LeakRuns: -1,
			})
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, f := range rep.Findings {
				if f.Kind == KindNondeterminism {
					got++
				} else {
					t.Errorf("unexpected finding %s", f)
				}
			}
			if got != c.want {
				t.Fatalf("%d nondeterminism findings, want %d: %v", got, c.want, rep.Findings)
			}
		})
	}
}

func TestJobsShareFindings(t *testing.T) {
	cfg, err := AdHoc(readFile(t, plantedModule), "planted.wasm", `{"bug":"unicode-subject"}`)
	if err != nil {
		t.Fatal(err)
	}
	noLoops(cfg)
	var progress atomic.Int64
	rep, err := Run(context.Background(), Options{
		Spec: Spec{Config: cfg}, Runs: 600, Seed: 3, Jobs: 2, LeakRuns: -1,
		Progress: func(Stats) { progress.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Kind != KindPanic {
		t.Fatalf("findings %v, want the one panic", rep.Findings)
	}
	if rep.Findings[0].Count < 2 {
		t.Errorf("the panic was counted %d times, want several", rep.Findings[0].Count)
	}
	if progress.Load() == 0 {
		t.Error("Progress was never called")
	}
	if rep.Runs < 600 || rep.Runs > 601 {
		t.Errorf("runs %d, want 600 (one more when both jobs pass the check together)", rep.Runs)
	}
}

func TestCoverageKeepsInputs(t *testing.T) {
	skipUnderRace(t)
	cfg, err := AdHoc(readFile(t, plantedModule), "planted.wasm", `{}`)
	if err != nil {
		t.Fatal(err)
	}
	noLoops(cfg)
	dir := t.TempDir()
	seeds := BuiltinSeeds()[:3]
	rep, err := Run(context.Background(), Options{
		Spec: Spec{Config: cfg, Coverage: true}, Runs: 300, Seed: 1, Seeds: seeds, LeakRuns: -1, CorpusDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Functions < 1000 || rep.Covered < 100 || rep.Covered > rep.Functions {
		t.Errorf("covered %d of %d functions, want hundreds of the Go guest's thousands", rep.Covered, rep.Functions)
	}
	if rep.Corpus <= len(seeds) {
		t.Errorf("corpus %d, want more than the %d seeds", rep.Corpus, len(seeds))
	}
	kept, err := ReadSeeds(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != rep.Corpus-len(seeds) {
		t.Errorf("%d inputs written, want the %d kept", len(kept), rep.Corpus-len(seeds))
	}
	if len(rep.Findings) > 0 {
		t.Errorf("findings on the clean guest: %v", rep.Findings)
	}
}
