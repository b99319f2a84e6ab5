package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokenwire/tokenwire/internal/fuzz"
	"github.com/tokenwire/tokenwire/runtime/config"
)

const fuzzSynopsis = "MODULE.wasm [--config FILE] [--duration D | --runs N] [--corpus DIR] [--seed N] [--jobs N]"

// cmdFuzz runs generated and mutated events through one listener module
// and reports what it finds. Findings go to stdout, progress to stderr.
// Exit 0 when nothing was found, 1 when something was, 2 for usage,
// config or module errors.
func cmdFuzz(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("fuzz", fuzzSynopsis, stderr)
	configPath := fs.String("config", "", "config `file` (YAML) whose listener for MODULE sets the limits, grants and listener config; without it the module runs as replay --module runs it")
	listenerName := fs.String("listener", "", "the config's listener to fuzz, by `name`, when several use MODULE")
	moduleConfig := fs.String("module-config", "{}", "listener config as a JSON `object`, without --config")
	duration := fs.Duration("duration", 0, "fuzz for this `duration`, such as 30s or 5m (default 10s unless --runs is set)")
	runs := fs.Int64("runs", 0, "stop after `N` events")
	corpus := fs.String("corpus", "fuzz-corpus", "`directory` of seed events (*.json, *.ndjson), where inputs that --coverage keeps are written; findings go to its crashers/ subdirectory")
	seed := fs.Uint64("seed", 0, "random `seed`; 0 picks one and prints it, so a run can be repeated")
	jobs := fs.Int("jobs", 1, "`number` of module instances fuzzed side by side (runs repeat exactly only with 1)")
	coverage := fs.Bool("coverage", false, "observe every guest function, keep inputs that reach new ones, and report coverage (slower)")
	determinism := fs.Bool("determinism", false, "run seeds and kept inputs again in a fresh instance and report different output")
	leakRuns := fs.Int("leak-runs", 512, "repeat one event this many `times` in one instance to look for leaks; 0 skips the check")
	stopAfter := fs.Int("stop-after", 0, "stop after this many `findings`; 0 runs the whole budget")
	logLevel := fs.String("log-level", "none", "log `level` of the runtime and the guest on stderr: none, debug, info, warn or error")

	positional, err := parseArgs(fs, args)
	if err != nil {
		return parseStatus(err)
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "tokenwire fuzz: "+format+"\n", a...)
		return exitUsage
	}
	switch {
	case len(positional) == 0:
		return fail("give the module to fuzz: tokenwire fuzz %s", fuzzSynopsis)
	case len(positional) > 1:
		return fail("unexpected argument %q: give one module", positional[1])
	case *duration < 0 || *runs < 0 || *jobs < 1 || *leakRuns < 0 || *stopAfter < 0:
		return fail("--duration, --runs, --leak-runs and --stop-after must not be negative and --jobs must be at least 1")
	}
	if *duration == 0 && *runs == 0 {
		*duration = 10 * time.Second
	}
	module := positional[0]
	// Failures are what fuzzing provokes, so logs are off unless asked for.
	logger := slog.New(slog.DiscardHandler)
	if *logLevel != "none" {
		if logger, err = newLogger(stderr, *logLevel); err != nil {
			return fail("%v", err)
		}
	}

	code, err := os.ReadFile(module)
	if err != nil {
		return fail("read module: %v", err)
	}
	var cfg *config.Config
	index := 0
	replay := "tokenwire replay --module " + module
	if *configPath == "" {
		if !json.Valid([]byte(*moduleConfig)) || !strings.HasPrefix(strings.TrimSpace(*moduleConfig), "{") {
			return fail("invalid --module-config %q: give a JSON object, such as '{\"claims\":[\"sub\"]}'", *moduleConfig)
		}
		cfg, err = fuzz.AdHoc(code, module, *moduleConfig)
		if *moduleConfig != "{}" {
			replay += " --module-config '" + *moduleConfig + "'"
		}
	} else {
		cfg, err = config.Load(*configPath)
		if err == nil {
			index, err = fuzz.FindListener(cfg, module, *listenerName)
		}
		replay = "tokenwire replay --config " + *configPath
	}
	if err != nil {
		return fail("%v", err)
	}

	seeds := fuzz.BuiltinSeeds()
	own, err := fuzz.ReadSeeds(*corpus)
	if err != nil {
		return fail("read corpus: %v", err)
	}
	seeds = append(seeds, own...)
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}

	opts := fuzz.Options{
		Spec:          fuzz.Spec{Config: cfg, Listener: index, Coverage: *coverage, Logger: logger},
		Duration:      *duration,
		Runs:          *runs,
		Seed:          *seed,
		Jobs:          *jobs,
		Seeds:         seeds,
		CrashersDir:   fuzz.CrashersDir(*corpus),
		CorpusDir:     *corpus,
		ReplayCommand: replay,
		Determinism:   *determinism,
		LeakRuns:      *leakRuns,
	}
	if *leakRuns == 0 {
		opts.LeakRuns = -1
	}
	if *stopAfter > 0 {
		var seen atomic.Int64
		opts.Stop = func(fuzz.Finding) bool { return seen.Add(1) >= int64(*stopAfter) }
	}
	live := isTerminal(stderr)
	if live {
		opts.Progress = func(s fuzz.Stats) {
			fmt.Fprintf(stderr, "\r\033[K%s", progressLine(s, *coverage))
		}
	}
	fmt.Fprintf(stderr, "tokenwire fuzz: %s, listener %q, seed %d, %d seed events\n", module, cfg.Listeners[index].Name, *seed, len(seeds))
	rep, err := fuzz.Run(ctx, opts)
	if live {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire fuzz: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "tokenwire fuzz: %s\n", progressLine(rep.Stats, *coverage))
	for _, f := range rep.Findings {
		fmt.Fprintf(stdout, "%s\n", f)
		if f.File != "" {
			fmt.Fprintf(stdout, "  input: %s\n", f.File)
		}
	}
	if len(rep.Findings) > 0 {
		fmt.Fprintf(stderr, "tokenwire fuzz: %d finding(s); replay each input with: %s FILE\n", len(rep.Findings), replay)
		return exitFailure
	}
	return exitOK
}

// progressLine formats the counters of a run.
func progressLine(s fuzz.Stats, coverage bool) string {
	secs := max(s.Elapsed.Seconds(), 1e-9)
	line := fmt.Sprintf("runs %d (%.0f/s), findings %d, rejected by intake %d, failed by the guest %d, corpus %d, %s",
		s.Runs, float64(s.Runs)/secs, s.Findings, s.Rejected, s.Failed, s.Corpus, s.Elapsed.Round(time.Second))
	if coverage {
		line += fmt.Sprintf(", coverage %d/%d functions", s.Covered, s.Functions)
	}
	return line
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
