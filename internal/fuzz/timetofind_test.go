package fuzz

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var timeToFind = flag.Int("timetofind", 0, "measure the time to find each planted defect over this many seeds (0 skips)")

// TestTimeToFind measures, for each planted defect, the runs and time the
// fuzzer needs over several seeds, with and without coverage guidance. It
// prints a table for docs/benchmarks.md. Run it with
//
//	go test ./internal/fuzz -run TestTimeToFind -timetofind 10 -v
func TestTimeToFind(t *testing.T) {
	if *timeToFind <= 0 {
		t.Skip("pass -timetofind N to measure")
	}
	module := readFile(t, plantedModule)
	bugs := slices.Sorted(func(yield func(string) bool) {
		for b := range plantedBudget {
			if !yield(b) {
				return
			}
		}
	})
	var rows []string
	for _, coverage := range []bool{false, true} {
		for _, bug := range bugs {
			want := plantedBudget[bug]
			cfg, err := AdHoc(module, "planted.wasm", `{"bug":"`+bug+`"}`)
			if err != nil {
				t.Fatal(err)
			}
			var runs []int64
			var times []time.Duration
			missed := 0
			for seed := 1; seed <= *timeToFind; seed++ {
				rep, err := Run(context.Background(), Options{
					Spec: Spec{Config: cfg, Coverage: coverage}, Duration: 60 * time.Second, Seed: uint64(seed),
					Seeds: BuiltinSeeds(), NoMinimize: true,
					Stop: func(f Finding) bool { return f.Kind == want.kind },
				})
				if err != nil {
					t.Fatal(err)
				}
				i := slices.IndexFunc(rep.Findings, func(f Finding) bool {
					return f.Kind == want.kind && strings.Contains(f.Detail, want.detail)
				})
				if i < 0 {
					missed++
					continue
				}
				runs = append(runs, rep.Findings[i].Runs)
				times = append(times, rep.Findings[i].Elapsed)
			}
			slices.Sort(runs)
			slices.Sort(times)
			row := fmt.Sprintf("| %s | %v | %d/%d | ", bug, coverage, len(runs), *timeToFind)
			if len(runs) > 0 {
				row += fmt.Sprintf("%d | %d | %s | %s |", runs[len(runs)/2], runs[len(runs)-1],
					times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
			} else {
				row += "- | - | - | - |"
			}
			_ = missed
			rows = append(rows, row)
			t.Log(row)
		}
	}
	t.Log("\n| defect | coverage | found | median runs | max runs | median time | max time |\n|---|---|---|---|---|---|---|\n" + strings.Join(rows, "\n"))
}
