// Package fuzz runs token-issue events through a listener module to find
// defects: traps, deadline hits, exits, start failures, memory leaks,
// host-call misuse, output the host rejects and, on request,
// nondeterminism. It drives the runtime's own load, instantiate and
// dispatch path, watching it through wazero function listeners, so a
// listener meets exactly the limits it has in production.
package fuzz

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures Run.
type Options struct {
	Spec
	// Duration and Runs bound the run; the first reached ends it. At
	// least one must be set.
	Duration time.Duration
	Runs     int64
	// Seed makes a run repeatable: with one job and the same seed, the
	// same inputs are tried in the same order.
	Seed uint64
	// Jobs is the number of targets run side by side. Default 1.
	Jobs int
	// Seeds are events (intake's JSON form) that run first and that the
	// mutator starts from.
	Seeds [][]byte
	// CrashersDir receives one file per finding; empty writes nothing.
	CrashersDir string
	// CorpusDir receives each input that coverage keeps, as HASH.json, so
	// that a later run can start from it; empty writes nothing.
	CorpusDir string
	// ReplayCommand is the command line, without the events file, that
	// replays a finding's input; it is written beside the input.
	ReplayCommand string
	// Determinism runs seeds and kept inputs again in a fresh instance
	// and reports different output.
	Determinism bool
	// LeakRuns is the number of times the leak check repeats one event in
	// one instance. 0 means 512, and a negative value turns the check off.
	LeakRuns int
	// NoMinimize keeps findings' inputs as found.
	NoMinimize bool
	// Stop, when set, ends the run once it returns true for a finding.
	Stop func(Finding) bool
	// Progress, when set, is called about four times a second.
	Progress func(Stats)
}

// Stats are a run's counters.
type Stats struct {
	Runs     int64 // events run through the listener
	Rejected int64 // inputs intake rejected, so not run
	Failed   int64 // events whose call failed, with or without a finding
	Findings int
	Corpus   int // seeds plus kept inputs
	Covered  int // guest functions reached, with coverage on
	// Functions is the number of functions the guest defines.
	Functions int
	Elapsed   time.Duration
}

// Report is the result of Run.
type Report struct {
	Stats
	Findings []Finding
}

// engine is the state shared by the jobs of one run.
type engine struct {
	opts  Options
	start time.Time
	runs  atomic.Int64
	rej   atomic.Int64
	fails atomic.Int64
	stop  atomic.Bool
	// fuzzStart is when the first target was ready, so the time to a
	// finding leaves out compiling the module.
	fuzzStart     time.Time
	fuzzStartOnce sync.Once
	funcs         atomic.Int64

	mu       sync.Mutex
	corpus   []*value
	found    map[string]*Finding
	order    []string
	covered  map[uint32]bool
	maxBytes int
}

// Run fuzzes the listener of opts.Spec until the budget is spent, ctx ends
// or opts.Stop returns true, and reports the findings.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Duration <= 0 && opts.Runs <= 0 {
		return nil, errors.New("fuzz: set a duration or a number of runs")
	}
	if opts.Jobs <= 0 {
		opts.Jobs = 1
	}
	if opts.LeakRuns == 0 {
		opts.LeakRuns = 512
	}
	e := &engine{opts: opts, start: time.Now(), found: map[string]*Finding{}, covered: map[uint32]bool{}}
	e.maxBytes = int(opts.Config.Intake.MaxEventBytes)
	if e.maxBytes <= 0 {
		e.maxBytes = 256 << 10
	}
	for _, s := range opts.Seeds {
		if v, err := parseValue(s); err == nil && v.kind == kindObject {
			e.corpus = append(e.corpus, v)
		}
	}
	if opts.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}

	done := make(chan struct{})
	progressDone := make(chan struct{})
	if opts.Progress == nil {
		close(progressDone)
	} else {
		go func() {
			defer close(progressDone)
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					// A last call gives the final figures, also for a
					// run shorter than one tick.
					opts.Progress(e.stats())
					return
				case <-tick.C:
					opts.Progress(e.stats())
				}
			}
		}()
	}
	var wg sync.WaitGroup
	errs := make([]error, opts.Jobs)
	for j := range opts.Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[j] = e.job(ctx, j)
		}()
	}
	wg.Wait()
	close(done)
	<-progressDone
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	rep := &Report{Stats: e.stats()}
	for _, sig := range e.order {
		rep.Findings = append(rep.Findings, *e.found[sig])
	}
	return rep, nil
}

func (e *engine) stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Stats{
		Runs: e.runs.Load(), Rejected: e.rej.Load(), Failed: e.fails.Load(),
		Findings: len(e.found), Corpus: len(e.corpus), Covered: len(e.covered), Functions: int(e.funcs.Load()),
		Elapsed: time.Since(e.start),
	}
}

// done reports whether the run should end.
func (e *engine) done(ctx context.Context) bool {
	return e.stop.Load() || ctx.Err() != nil || (e.opts.Runs > 0 && e.runs.Load() >= e.opts.Runs)
}

// worker is one job's targets.
type worker struct {
	spec Spec
	t    *target
	// plain is the target without coverage listeners, made when needed.
	plain *target
}

// plainTarget returns a target without coverage listeners: the worker's
// own when coverage is off.
func (w *worker) plainTarget(ctx context.Context) (*target, error) {
	if !w.spec.Coverage {
		return w.t, nil
	}
	if w.plain == nil {
		spec := w.spec
		spec.Coverage = false
		t, err := newTarget(ctx, spec)
		if err != nil {
			return nil, err
		}
		w.plain = t
	}
	return w.plain, nil
}

func (w *worker) close(ctx context.Context) {
	w.t.close(ctx)
	if w.plain != nil {
		w.plain.close(ctx)
	}
}

// job runs one target until the run ends.
func (e *engine) job(ctx context.Context, j int) error {
	t, err := newTarget(ctx, e.opts.Spec)
	if err != nil {
		return err
	}
	w := &worker{spec: e.opts.Spec, t: t}
	e.fuzzStartOnce.Do(func() {
		e.mu.Lock()
		e.fuzzStart = time.Now()
		e.mu.Unlock()
	})
	defer w.close(context.WithoutCancel(ctx))
	e.funcs.Store(t.factory.functions.Load())
	if t.startErr != nil {
		if j == 0 {
			e.record(ctx, nil, Finding{Kind: KindInit, Detail: t.startErr.Error()}, nil)
		}
		return nil
	}
	e.mu.Lock()
	seeds := append([]*value(nil), e.corpus...)
	e.mu.Unlock()
	gen := newGenerator(e.opts.Seed+uint64(j)*0x51ed27, e.maxBytes)
	gen.dict = seedStrings(seeds)

	if j == 0 {
		for _, s := range seeds {
			if e.done(ctx) {
				return nil
			}
			e.try(ctx, w, s, true)
		}
	}
	leakPending := j == 0 && e.opts.LeakRuns > 0
	for !e.done(ctx) {
		if leakPending && e.leakDue() {
			leakPending = false
			if err := e.leakCheck(ctx, gen, seeds); err != nil {
				return err
			}
			continue
		}
		var input *value
		e.mu.Lock()
		n := len(e.corpus)
		var parent *value
		if n > 0 && gen.rng.IntN(10) < 6 {
			parent = e.corpus[gen.rng.IntN(n)]
		}
		e.mu.Unlock()
		if parent != nil {
			input = gen.mutate(parent)
		} else {
			input = gen.event()
		}
		e.try(ctx, w, input, false)
	}
	return nil
}

// try runs one input and records its counts, coverage, corpus entry and
// findings.
func (e *engine) try(ctx context.Context, w *worker, input *value, seed bool) {
	t := w.t
	raw := input.encode(nil)
	if len(raw) > e.maxBytes {
		e.rej.Add(1)
		return
	}
	out := t.exec(ctx, raw)
	if out.rejected != nil {
		e.rej.Add(1)
		return
	}
	e.runs.Add(1)
	if out.failed {
		e.fails.Add(1)
	}
	if out.fresh > 0 && !seed {
		e.mu.Lock()
		e.corpus = append(e.corpus, input)
		e.mu.Unlock()
		if e.opts.CorpusDir != "" {
			// A corpus entry that cannot be written costs only a later
			// run's head start, so the run goes on.
			_ = writeInput(e.opts.CorpusDir, raw)
		}
	}
	if out.fresh > 0 {
		e.mu.Lock()
		for i, c := range t.rec.covered {
			if c {
				e.covered[uint32(i)] = true
			}
		}
		e.mu.Unlock()
	}
	for _, f := range out.findings {
		e.record(ctx, w, f, input)
	}
	if e.opts.Determinism && (seed || out.fresh > 0) && len(out.findings) == 0 {
		e.checkDeterminism(ctx, raw, input, out.output)
	}
}

// record adds a finding unless one with its signature is known. An input
// that shows it is first run again, and minimised unless NoMinimize is
// set. A timeout that does not repeat twice more, without coverage
// listeners, is dropped: a loaded machine or the listeners can slow a
// slow event past the deadline.
func (e *engine) record(ctx context.Context, w *worker, f Finding, input *value) {
	sig := f.signature()
	if e.count(sig) {
		return
	}
	e.mu.Lock()
	f.Runs, f.Elapsed = e.runs.Load(), time.Since(e.fuzzStart)
	e.mu.Unlock()
	if input != nil {
		final := input
		if w != nil && reproducible(f.Kind) {
			t := w.t
			if f.Kind == KindTimeout {
				plain, err := w.plainTarget(ctx)
				if err != nil || !plain.repeats(ctx, input.encode(nil), sig, timeoutRepeats) {
					return
				}
				t = plain
			}
			var shown bool
			final, shown, f.Minimized = e.minimize(ctx, t, input, sig)
			if !shown && f.Kind == KindTimeout {
				return
			}
		}
		f.Input = final.encode(nil)
	}
	if e.count(sig) {
		return
	}
	if e.opts.CrashersDir != "" && input != nil {
		if path, err := writeCrasher(e.opts.CrashersDir, f, e.opts.ReplayCommand); err == nil {
			f.File = path
		} else {
			f.Detail += " (" + err.Error() + ")"
		}
	}
	f.Count = 1
	e.mu.Lock()
	if prev, ok := e.found[sig]; ok {
		prev.Count++
		e.mu.Unlock()
		return
	}
	e.found[sig] = &f
	e.order = append(e.order, sig)
	e.mu.Unlock()
	if e.opts.Stop != nil && e.opts.Stop(f) {
		e.stop.Store(true)
	}
}

// count counts one more input for a known finding, and reports whether
// the finding was known.
func (e *engine) count(sig string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if prev, ok := e.found[sig]; ok {
		prev.Count++
		return true
	}
	return false
}

// reproducible reports whether one event shows a kind of finding on its
// own, so that its input can be minimised.
func reproducible(kind string) bool {
	return kind != KindLeak && kind != KindNondeterminism && kind != KindInit
}

// minimize runs input again and reports whether the finding with
// signature sig shows. If it does, and minimising is on, it removes
// members and elements from input and shortens its strings while the
// finding still shows, and reports whether the input changed.
func (e *engine) minimize(ctx context.Context, t *target, input *value, sig string) (_ *value, shown, changed bool) {
	budget, deadline := 400, time.Now().Add(10*time.Second)
	if strings.HasPrefix(sig, KindTimeout+"\x00") {
		// A timeout costs the whole deadline per attempt.
		budget = 16
	}

	showsIt := func(v *value) bool {
		if budget <= 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		budget--
		out := t.exec(ctx, v.encode(nil))
		for _, f := range out.findings {
			if f.signature() == sig {
				return true
			}
		}
		return false
	}
	if !showsIt(input) {
		return input, false, false
	}
	if e.opts.NoMinimize {
		return input, true, false
	}

	cur := input.clone()
	// Remove children of each container, top down, in chunks that halve
	// (as delta debugging does), so a large input shrinks in few runs.
	// Paths change with each removal, so a success starts over.
	shrink := func() bool {
		for _, path := range containers(cur, nil, nil) {
			n := len(follow(cur, path).vals)
			for chunk := n / 2; chunk >= 1; chunk /= 2 {
				for lo := 0; lo < n; lo += chunk {
					hi := min(lo+chunk, n)
					if len(path) == 0 && keepsEventMembers(cur, lo, hi) {
						continue
					}
					cand := cur.clone()
					removeRange(follow(cand, path), lo, hi)
					if showsIt(cand) {
						cur = cand
						return true
					}
				}
			}
		}
		return false
	}
	for shrink() {
		changed = true
	}

	// Shorten strings by halves.
	for _, s := range slots(cur, nil) {
		v := s.parent.vals[s.i]
		for v.kind == kindString && len(v.text) > 1 {
			old := v.text
			r := []rune(old)
			v.text = string(r[:len(r)/2])
			if !showsIt(cur) {
				v.text = old
				break
			}
			changed = true
		}
	}
	return cur, true, changed
}

// containers lists the paths of the non-empty arrays and objects in v,
// parents before children.
func containers(v *value, path []int, out [][]int) [][]int {
	if len(v.vals) == 0 {
		return out
	}
	out = append(out, path)
	for i, c := range v.vals {
		out = containers(c, append(path[:len(path):len(path)], i), out)
	}
	return out
}

// keepsEventMembers reports whether members lo to hi of an event include
// type or claims, which no event can do without.
func keepsEventMembers(ev *value, lo, hi int) bool {
	for _, k := range ev.keys[lo:hi] {
		if k == "type" || k == "claims" {
			return true
		}
	}
	return false
}

// removeRange removes children lo to hi of an array or object.
func removeRange(v *value, lo, hi int) {
	if v.kind == kindObject {
		v.keys = append(v.keys[:lo:lo], v.keys[hi:]...)
	}
	v.vals = append(v.vals[:lo:lo], v.vals[hi:]...)
}

func follow(v *value, path []int) *value {
	for _, i := range path {
		v = v.vals[i]
	}
	return v
}

// leakDue reports whether the leak check should run now: after 1,000
// runs or half the budget, whichever comes first, so that the quick checks
// get the start of a run.
func (e *engine) leakDue() bool {
	after := int64(1000)
	if e.opts.Runs > 0 {
		after = min(after, e.opts.Runs/2)
	}
	return e.runs.Load() >= after || (e.opts.Duration > 0 && time.Since(e.start) >= e.opts.Duration/2)
}

// leakCheck runs one event many times in a fresh instance and reports a
// leak when memory keeps growing. It uses the first seed that runs
// cleanly, else a generated event that does.
func (e *engine) leakCheck(ctx context.Context, gen *generator, seeds []*value) error {
	t, err := newTarget(ctx, e.opts.Spec)
	if err != nil {
		return err
	}
	defer t.close(context.WithoutCancel(ctx))
	if t.startErr != nil {
		return nil
	}
	// Seeds first, then generated events, smallest first: the check
	// repeats one event hundreds of times.
	var generated []*value
	for range 20 {
		generated = append(generated, gen.event())
	}
	slices.SortFunc(generated, func(a, b *value) int { return a.size() - b.size() })
	candidates := append(append([]*value(nil), seeds...), generated...)
	n := e.opts.LeakRuns
	for _, c := range candidates {
		raw := c.encode(nil)
		out := t.exec(ctx, raw)
		if out.rejected != nil || len(out.findings) > 0 {
			continue
		}
		mem := make([]uint32, 0, n)
		clean := true
		for range n {
			if e.done(ctx) {
				return nil
			}
			out := t.exec(ctx, raw)
			e.runs.Add(1)
			if len(out.findings) > 0 || out.started {
				clean = false
				break
			}
			mem = append(mem, out.memAfter)
		}
		if !clean {
			// The event fails in this instance after a while: a leak ends
			// in a trap at the memory limit, or an event needs state.
			if len(mem) > n/8 && mem[len(mem)-1] > mem[len(mem)/4] {
				e.reportLeak(ctx, c, mem)
			}
			return nil
		}
		if leaking(mem, uint64(t.lc.MemoryLimit)) {
			e.reportLeak(ctx, c, mem)
		}
		return nil
	}
	return nil
}

// leaking reports whether memory grew in each of the last three quarters
// of the samples, by at least a sixteenth of the limit (1 MiB at least).
func leaking(mem []uint32, limit uint64) bool {
	if len(mem) < 8 {
		return false
	}
	q := len(mem) / 4
	a, b, c, d := mem[q-1], mem[2*q-1], mem[3*q-1], mem[len(mem)-1]
	return b > a && c > b && d > c && uint64(d-a) >= max(limit/16, 1<<20)
}

func (e *engine) reportLeak(ctx context.Context, input *value, mem []uint32) {
	e.record(ctx, nil, Finding{Kind: KindLeak, Detail: fmt.Sprintf(
		"guest memory grew from %s to %s over %d runs of the same event in one instance",
		byteSize(uint64(mem[0])), byteSize(uint64(mem[len(mem)-1])), len(mem))}, input)
}

// checkDeterminism runs raw in a fresh instance and compares its output
// with want.
func (e *engine) checkDeterminism(ctx context.Context, raw []byte, input *value, want []byte) {
	t, err := newTarget(ctx, e.opts.Spec)
	if err != nil || t.startErr != nil {
		return
	}
	defer t.close(context.WithoutCancel(ctx))
	out := t.exec(ctx, raw)
	if out.rejected == nil && string(out.output) != string(want) {
		e.record(ctx, nil, Finding{Kind: KindNondeterminism, Detail: "the same event gave other emit or sign arguments in a fresh instance"}, input)
	}
}

// seedStrings collects the string values of the seed events, which the
// generator then uses as values.
func seedStrings(seeds []*value) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(v *value)
	walk = func(v *value) {
		if v.kind == kindString && !seen[v.text] && len(v.text) < 256 {
			seen[v.text] = true
			out = append(out, v.text)
		}
		for _, c := range v.vals {
			walk(c)
		}
	}
	for _, s := range seeds {
		walk(s)
	}
	return out
}

// CrashersDir returns the crashers directory under a corpus directory.
func CrashersDir(corpus string) string { return filepath.Join(corpus, "crashers") }
