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
// file directly in a directory. A .json file holds one event, which may
// span lines; any other file holds one event per line. A missing directory
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
