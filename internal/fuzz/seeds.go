package fuzz

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tokenwire/tokenwire/runtime/config"
)

// builtinSeeds is a copy of testdata/events/corpus.ndjson, real events of
// several issuers, kept equal to it by a test.
//
//go:embed seeds.ndjson
var builtinSeeds []byte

// BuiltinSeeds returns the events the fuzzer starts from when given none.
func BuiltinSeeds() [][]byte {
	seeds, _ := splitEvents(builtinSeeds)
	return seeds
}

// ReadSeeds reads seed events from a file or from every .json and .ndjson
// file directly in a directory. A .json file contains one event, which may
// span lines. Any other file contains one event per line. A missing directory
// gives no seeds.
func ReadSeeds(path string) ([][]byte, error) {
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if info.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		files = files[:0]
		for _, e := range entries {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".json") || strings.HasSuffix(e.Name(), ".ndjson")) {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
		slices.Sort(files)
	}
	var seeds [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(f, ".json") {
			seeds = append(seeds, bytes.TrimSpace(data))
			continue
		}
		events, err := splitEvents(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		seeds = append(seeds, events...)
	}
	return seeds, nil
}

// splitEvents splits NDJSON into its non-empty lines.
func splitEvents(data []byte) ([][]byte, error) {
	var out [][]byte
	r := bufio.NewReader(bytes.NewReader(data))
	for {
		line, err := r.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			out = append(out, line)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// FindListener returns the index of the config's listener for module, or
// of the one named name.
func FindListener(cfg *config.Config, module, name string) (int, error) {
	want, _ := filepath.Abs(module)
	var matches []int
	for i, l := range cfg.Listeners {
		got, _ := filepath.Abs(l.Module)
		if (name == "" || l.Name == name) && (got == want || name != "") {
			matches = append(matches, i)
		}
	}
	switch {
	case len(matches) == 1:
		return matches[0], nil
	case len(matches) == 0 && name != "":
		return 0, fmt.Errorf("config %s has no listener named %q", cfg.Path, name)
	case len(matches) == 0:
		return 0, fmt.Errorf("config %s has no listener with module %s: add one, or fuzz without --config", cfg.Path, module)
	}
	return 0, fmt.Errorf("config %s has %d listeners with module %s: pick one with --listener", cfg.Path, len(matches), module)
}
