package fuzz

import (
	"context"
	"os"
	"testing"
	"time"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPlantedSmoke(t *testing.T) {
	module := readFile(t, "../../examples/fuzzing/planted/planted.wasm")
	for _, bug := range []string{"", "unicode-subject", "leak", "deep-loop", "sign-exp", "rare-client"} {
		t.Run(bug, func(t *testing.T) {
			cfg, err := AdHoc(module, "planted.wasm", `{"bug":"`+bug+`"}`)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			rep, err := Run(context.Background(), Options{Spec: Spec{Config: cfg}, Duration: 5 * time.Second, Seed: 1,
				Stop: func(Finding) bool { return true }})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %+v in %s", bug, rep.Stats, time.Since(start))
			for _, f := range rep.Findings {
				t.Logf("  %s (runs %d, %s) input %.300s", f, f.Runs, f.Elapsed, f.Input)
			}
		})
	}
}

func TestExamplesSmoke(t *testing.T) {
	for _, c := range []struct{ path, config string }{
		{"../../examples/audit/audit.wasm", `{"sink":"stdout"}`},
		{"../../examples/claimfilter/claimfilter.wasm", `{"claims":["sub","iat","aud","email"]}`},
	} {
		t.Run(c.path, func(t *testing.T) {
			cfg, err := AdHoc(readFile(t, c.path), c.path, c.config)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Run(context.Background(), Options{Spec: Spec{Config: cfg}, Duration: 8 * time.Second, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", rep.Stats)
			for _, f := range rep.Findings {
				t.Logf("  %s (runs %d, %s) input %.600s", f, f.Runs, f.Elapsed, f.Input)
			}
		})
	}
}
