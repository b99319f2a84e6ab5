package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		positional []string
		module     string
		json       bool
	}{
		{"flags first", []string{"--module", "x.wasm", "events.ndjson"}, []string{"events.ndjson"}, "x.wasm", false},
		{"flags last", []string{"events.ndjson", "--module", "x.wasm", "--json"}, []string{"events.ndjson"}, "x.wasm", true},
		{"flags between", []string{"a", "--json", "b", "--module=x.wasm", "c"}, []string{"a", "b", "c"}, "x.wasm", true},
		{"value with dash", []string{"--module", "-odd.wasm", "a"}, []string{"a"}, "-odd.wasm", false},
		{"value is double dash", []string{"--module", "--", "a"}, []string{"a"}, "--", false},
		{"lone dash", []string{"-", "--json"}, []string{"-"}, "", true},
		{"end of flags", []string{"a", "--", "--json", "-m"}, []string{"a", "--json", "-m"}, "", false},
		{"single dash flag", []string{"-module", "x.wasm", "a"}, []string{"a"}, "x.wasm", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			module := fs.String("module", "", "")
			asJSON := fs.Bool("json", false, "")
			positional, err := parseArgs(fs, c.args)
			if err != nil {
				t.Fatalf("parseArgs(%q): %v", c.args, err)
			}
			if !slices.Equal(positional, c.positional) {
				t.Errorf("positional = %q, want %q", positional, c.positional)
			}
			if *module != c.module {
				t.Errorf("--module = %q, want %q", *module, c.module)
			}
			if *asJSON != c.json {
				t.Errorf("--json = %t, want %t", *asJSON, c.json)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	cases := map[string][]string{
		"unknown flag after file": {"events.ndjson", "--bogus"},
		"missing value":           {"events.ndjson", "--module"},
		"help after file":         {"events.ndjson", "--help"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.String("module", "", "")
			if _, err := parseArgs(fs, args); err == nil {
				t.Errorf("parseArgs(%q) succeeded, want an error", args)
			}
		})
	}
}

func TestReplayFlagsAfterEventsFile(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "replay", corpusPath, "--module", guest("echo"), "--log-level", "error")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if got, want := len(lines(out)), countLines(t, corpusPath); got != want {
		t.Errorf("stdout has %d lines, want one per event: %d", got, want)
	}
}

func TestCommandsRejectStrayArguments(t *testing.T) {
	cases := map[string][]string{
		"run":    {"run", "--log-level", "error", "extra"},
		"check":  {"check", "extra", "--config", "../../examples/configs/tokenwire.yaml"},
		"status": {"status", "--json", "extra"},
		"replay": {"replay", "a.ndjson", "--module", guest("echo"), "b.ndjson"},
		"fuzz":   {"fuzz", plantedModule, "--runs", "1", "extra"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, nil, args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, errOut)
			}
			if !strings.Contains(errOut, "b.ndjson") && !strings.Contains(errOut, `"extra"`) {
				t.Errorf("stderr does not name the stray argument:\n%s", errOut)
			}
		})
	}
}

func TestCheckWithoutConfigFile(t *testing.T) {
	t.Chdir(t.TempDir())
	code, _, stderr := runCLI(t, nil, "check")
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, "pass --config FILE") {
		t.Errorf("stderr %q does not say to pass --config", stderr)
	}
}

func TestStatusAddrWithoutScheme(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "status", "--addr", "127.0.0.1:9")
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, "http://127.0.0.1:9") {
		t.Errorf("stderr %q does not suggest the address with a scheme", stderr)
	}
}
