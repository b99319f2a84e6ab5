package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const plantedModule = "../../examples/fuzzing/planted/planted.wasm"

func TestFuzzFindsAndWritesInput(t *testing.T) {
	corpus := t.TempDir()
	code, stdout, stderr := runCLI(t, nil, "fuzz", plantedModule,
		"--module-config", `{"bug":"sign-exp"}`, "--runs", "300", "--seed", "1", "--corpus", corpus)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitFailure, stdout, stderr)
	}
	mustContain(t, "stdout", stdout, "sign-rejected", `"exp"`, "input: ")
	mustContain(t, "stderr", stderr, "seed 1", "runs 300", "finding(s)", `--module-config '{"bug":"sign-exp"}'`)
	files, _ := filepath.Glob(filepath.Join(corpus, "crashers", "sign-rejected-*.json"))
	if len(files) != 1 {
		t.Fatalf("crashers: %v, want one sign-rejected input", files)
	}
	for _, path := range []string{files[0], strings.TrimSuffix(files[0], ".json") + ".txt"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(data), "\n") {
			t.Errorf("%s does not end in a newline: %q", path, data)
		}
	}

	// The written input replays the failure.
	code, _, stderr = runCLI(t, nil, "replay", "--module", plantedModule, "--module-config", `{"bug":"sign-exp"}`, files[0])
	if code != exitFailure {
		t.Fatalf("replay of the finding: exit %d, want %d\n%s", code, exitFailure, stderr)
	}
	mustContain(t, "replay stderr", stderr, "exp")
}

func TestFuzzCleanGuestExitsZero(t *testing.T) {
	corpus := t.TempDir()
	// Seeds in the corpus directory are read too.
	event := `{"type":"id_token.issued","claims":{"iss":"https://op.example.com","sub":"corpus-seed"}}`
	if err := os.WriteFile(filepath.Join(corpus, "seed.json"), []byte(event), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, nil, "fuzz", "--runs", "200", "--seed", "2", "--corpus", corpus, "--leak-runs", "0", plantedModule)
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	mustContain(t, "stderr", stderr, "40 seed events", "findings 0")
	if _, err := os.Stat(filepath.Join(corpus, "crashers")); !os.IsNotExist(err) {
		t.Errorf("crashers directory made for a clean run: %v", err)
	}
}

func TestFuzzUsage(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no module", []string{"fuzz"}, "give the module"},
		{"missing module", []string{"fuzz", "no-such.wasm"}, "read module"},
		{"bad module config", []string{"fuzz", plantedModule, "--module-config", "[1]"}, "invalid --module-config"},
		{"negative runs", []string{"fuzz", plantedModule, "--runs", "-1"}, "must not be negative"},
		{"config without listener", []string{"fuzz", plantedModule, "--config", "../../examples/configs/tokenwire.yaml"}, "no listener with module"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, c.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d: %s", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q lacks %q", stderr, c.want)
			}
		})
	}
}

// mustContain fails the test for each of wants that s lacks.
func mustContain(t *testing.T, label, s string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %q:\n%s", label, want, s)
		}
	}
}
