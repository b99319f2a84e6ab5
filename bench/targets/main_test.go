package main

import (
	"strings"
	"testing"
)

const sampleRun = `goos: linux
BenchmarkCompare/minimal/wazero-2          	 100	       120.0 ns/op	       119.0 cpu-ns/op	       0 B/op	       0 allocs/op
BenchmarkCompare/minimal/wazero-2          	 100	       130.0 ns/op	       121.0 cpu-ns/op	       0 B/op	       0 allocs/op
BenchmarkCompare/minimal/tokenwire-2       	 100	       210.0 ns/op	       200.0 cpu-ns/op	       0 B/op	       0 allocs/op
BenchmarkCompare/minimal/tokenwire-2       	 100	       230.0 ns/op	       300.0 cpu-ns/op	       0 B/op	       0 allocs/op
BenchmarkCompare/minimal/tokenwire-2       	 100	       220.0 ns/op	       210.0 cpu-ns/op	       0 B/op	       0 allocs/op
BenchmarkReplay/Parallel-2 	 1	 9000000 ns/op	 150000 events/s
BenchmarkReplay/Parallel-2 some log line the benchmark printed
PASS
`

func TestParseMedians(t *testing.T) {
	s := samples{}
	if err := s.parse(strings.NewReader(sampleRun)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, unit string
		want       float64
	}{
		{"Compare/minimal/wazero", "cpu-ns/op", 120},
		{"Compare/minimal/tokenwire", "cpu-ns/op", 210},
		{"Compare/minimal/tokenwire", "ns/op", 220},
		{"Replay/Parallel", "events/s", 150000},
	}
	for _, c := range cases {
		got, ok := s.median(c.name, c.unit)
		if !ok || got != c.want {
			t.Errorf("median(%s, %s) = %v, %v; want %v", c.name, c.unit, got, ok, c.want)
		}
	}
}

func TestParseRejectsBadValue(t *testing.T) {
	err := samples{}.parse(strings.NewReader("BenchmarkX-2 10 fast ns/op\n"))
	if err == nil || !strings.Contains(err.Error(), `"fast"`) {
		t.Fatalf("parse error = %v, want one naming the value", err)
	}
}

func TestMeasureRatio(t *testing.T) {
	s := samples{}
	if err := s.parse(strings.NewReader(sampleRun)); err != nil {
		t.Fatal(err)
	}
	got, ok := s.measure(ratio("", "Compare/minimal/tokenwire", "Compare/minimal/wazero", "cpu-ns/op", 2))
	if !ok || got != 1.75 {
		t.Fatalf("ratio = %v, %v; want 1.75", got, ok)
	}
	got, ok = s.measure(target{num: "Compare/minimal/tokenwire", den: "Compare/minimal/wazero", unit: "ns/op"})
	if !ok || got != 220.0/125.0 {
		t.Fatalf("ns/op ratio = %v, %v; want %v", got, ok, 220.0/125.0)
	}
}

func TestReportExitCodes(t *testing.T) {
	met := samples{}
	if err := met.parse(strings.NewReader(sampleRun)); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	// Most targets have no benchmark in sampleRun, so the run counts as
	// incomplete.
	if code := report(&out, met); code != 2 {
		t.Fatalf("exit code = %d, want 2 for missing benchmarks", code)
	}
	if !strings.Contains(out.String(), "| minimal guest: tokenwire with budget and deadline ÷ raw wazero | 1.75 | ≤ 2.00 | yes |") {
		t.Errorf("report lacks the met minimal target:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "| replay through the minimal guest, 2 decoders (events/s) | 150000 | ≥ 200000 | no |") {
		t.Errorf("report lacks the missed replay target:\n%s", out.String())
	}

	saved := targets
	t.Cleanup(func() { targets = saved })
	targets = targets[:1]
	if code := report(&out, met); code != 0 {
		t.Fatalf("exit code = %d, want 0 when every target is met", code)
	}
	targets = []target{{description: "replay", num: "Replay/Parallel", unit: "events/s", bound: 200_000}}
	if code := report(&out, met); code != 1 {
		t.Fatalf("exit code = %d, want 1 for a missed target", code)
	}
}
