// Command targets reads the go test -bench output of the benchmark suite,
// from files or standard input. It prints a Markdown table of the
// runtime's performance targets, each with the median this run measured
// and whether the run met it.
//
// Usage:
//
//	go run ./bench/targets FILE...
//
// It exits 1 when a target was missed and 2 when a benchmark a target
// needs is missing from the input.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// samples maps a benchmark name, without its -GOMAXPROCS suffix, and a
// unit to the values of every run of it.
type samples map[string]map[string][]float64

// parse adds the benchmark result lines of r to s.
func (s samples) parse(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || len(fields)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			continue // not a result line, such as a benchmark's log output
		}
		name := strings.TrimPrefix(fields[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return fmt.Errorf("benchmark %s: value %q of unit %s is not a number", name, fields[i], fields[i+1])
			}
			if s[name] == nil {
				s[name] = map[string][]float64{}
			}
			s[name][fields[i+1]] = append(s[name][fields[i+1]], v)
		}
	}
	return sc.Err()
}

// median returns the median of a benchmark's values in unit, and false
// when the input has none.
func (s samples) median(name, unit string) (float64, bool) {
	vs := slices.Clone(s[name][unit])
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

// target is one performance target. The measured figure is the median of
// num in unit, divided by the median of den when den is set. With atMost
// the figure must not exceed bound, otherwise it must reach it. A target
// without a bound is reported for comparison only.
type target struct {
	description string
	num, den    string
	unit        string
	bound       float64
	atMost      bool
	noTarget    bool
}

func ratio(description, num, den, unit string, maxRatio float64) target {
	return target{description: description, num: num, den: den, unit: unit, bound: maxRatio, atMost: true}
}

func info(description, num, den, unit string) target {
	return target{description: description, num: num, den: den, unit: unit, noTarget: true}
}

// targets lists what docs/benchmarks.md promises. Ratios of the Compare
// benchmarks use thread CPU time (cpu-ns/op), which moves less than wall
// time on a shared machine.
var targets = []target{
	ratio("minimal guest: tokenwire with budget and deadline ÷ raw wazero", "Compare/minimal/tokenwire", "Compare/minimal/wazero", "cpu-ns/op", 2),
	ratio("scan guest: metered ÷ unmetered, plain wazero", "Compare/scan/wazero_budget", "Compare/scan/wazero", "cpu-ns/op", 1.2),
	ratio("scan guest: tokenwire ÷ tokenwire unmetered", "Compare/scan/tokenwire", "Compare/scan/tokenwire_unmetered", "cpu-ns/op", 1.2),
	ratio("claimfilter (Go): metered ÷ unmetered, plain wazero", "Compare/claimfilter/wazero_budget", "Compare/claimfilter/wazero", "cpu-ns/op", 1.2),
	ratio("claimfilter (Go): tokenwire ÷ tokenwire unmetered", "Compare/claimfilter/tokenwire", "Compare/claimfilter/tokenwire_unmetered", "cpu-ns/op", 1.2),
	ratio("claimfilter (C): metered ÷ unmetered, plain wazero", "Compare/claimfilter_c/wazero_budget", "Compare/claimfilter_c/wazero", "cpu-ns/op", 1.2),
	ratio("claimfilter (C): tokenwire ÷ tokenwire unmetered", "Compare/claimfilter_c/tokenwire", "Compare/claimfilter_c/tokenwire_unmetered", "cpu-ns/op", 1.2),
	{description: "allocations per steady-state dispatch", num: "DispatchMinimal/DispatchEncoded", unit: "allocs/op", bound: 0, atMost: true},
	{description: "RS256: raw crypto/rsa time ÷ Signer.Sign time, taking turns", num: "RS256VersusRaw", unit: "raw/sign", bound: 0.95},
	info("RS256: raw crypto/rsa time ÷ Signer.Sign time, separate benchmarks", "RawRS256", "Sign/RS256", "ns/op"),
	{description: "replay through the minimal guest, 2 decoders (events/s)", num: "Replay/Parallel", unit: "events/s", bound: 200_000},
	{description: "HTTP NDJSON intake (events/s)", num: "IntakeHTTP", unit: "events/s", bound: 100_000},
	info("HTTP NDJSON intake, minimal guest emitting to a file sink (events/s)", "IntakeHTTPFileSink", "", "events/s"),
	info("minimal guest: WithCloseOnContextDone ÷ raw wazero", "Compare/minimal/wazero_close_on_done", "Compare/minimal/wazero", "cpu-ns/op"),
	info("scan guest: WithCloseOnContextDone ÷ raw wazero", "Compare/scan/wazero_close_on_done", "Compare/scan/wazero", "cpu-ns/op"),
	info("parallel ÷ sequential dispatch time per event", "DispatchParallel", "DispatchMinimal/DispatchEncoded", "ns/op"),
	info("replay, one decoder (events/s)", "Replay/Sequential", "", "events/s"),
	info("Extism minimal, 500 ms timeout ÷ tokenwire minimal (wall)", "Extism/minimal/timeout_500ms", "Compare/minimal/tokenwire", "ns/op"),
	info("Extism claimfilter (C), 500 ms timeout ÷ tokenwire (wall)", "Extism/claimfilter_c/timeout_500ms", "Compare/claimfilter_c/tokenwire", "ns/op"),
}

// measure returns the figure of t and false when an input is missing.
func (s samples) measure(t target) (float64, bool) {
	num, ok := s.median(t.num, t.unit)
	if !ok {
		return 0, false
	}
	if t.den == "" {
		return num, true
	}
	den, ok := s.median(t.den, t.unit)
	if !ok || den == 0 {
		return 0, false
	}
	return num / den, true
}

// report writes the table and returns the exit code.
func report(w io.Writer, s samples) int {
	code := 0
	fmt.Fprintln(w, "| Target | Measured | Bound | Met |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	for _, t := range targets {
		v, ok := s.measure(t)
		bound, met := "", ""
		switch {
		case t.noTarget:
			bound, met = "(comparison)", ""
		case t.atMost:
			bound = "≤ " + format(t.bound)
		default:
			bound = "≥ " + format(t.bound)
		}
		if !ok {
			fmt.Fprintf(w, "| %s | missing: run %s%s | %s | no |\n", t.description, t.num, denNote(t), bound)
			code = max(code, 2)
			continue
		}
		if !t.noTarget {
			met = "yes"
			if (t.atMost && v > t.bound) || (!t.atMost && v < t.bound) {
				met, code = "no", max(code, 1)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.description, format(v), bound, met)
	}
	return code
}

func denNote(t target) string {
	if t.den == "" {
		return ""
	}
	return " and " + t.den
}

// format prints ratios with two decimals and large figures as integers.
func format(v float64) string {
	if v >= 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func main() {
	s := samples{}
	if len(os.Args) == 1 {
		if err := s.parse(os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, "targets:", err)
			os.Exit(2)
		}
	}
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "targets:", err)
			os.Exit(2)
		}
		err = s.parse(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "targets: %s: %v\n", path, err)
			os.Exit(2)
		}
	}
	os.Exit(report(os.Stdout, s))
}
