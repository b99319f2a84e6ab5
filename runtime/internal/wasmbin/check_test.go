package wasmbin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// withSection returns a binary holding one section with the given contents.
func withSection(id byte, contents ...byte) []byte {
	b := append([]byte{}, header...)
	b = append(b, id)
	b = appendU32(b, uint32(len(contents)))
	return append(b, contents...)
}

// huge is 2^32-1 as LEB128.
var huge = []byte{0xff, 0xff, 0xff, 0xff, 0x0f}

func TestCheckRejectsHugeCounts(t *testing.T) {
	cases := map[string][]byte{
		"type count":       withSection(sectionType, huge...),
		"param count":      withSection(sectionType, append([]byte{1, 0x60}, huge...)...),
		"import count":     withSection(sectionImport, huge...),
		"import name":      withSection(sectionImport, append([]byte{1}, huge...)...),
		"function count":   withSection(sectionFunction, huge...),
		"table count":      withSection(sectionTable, huge...),
		"memory count":     withSection(sectionMemory, huge...),
		"global count":     withSection(sectionGlobal, huge...),
		"export count":     withSection(sectionExport, huge...),
		"element count":    withSection(sectionElement, huge...),
		"element entries":  withSection(sectionElement, append([]byte{1, 0x01, 0x00}, huge...)...),
		"code count":       withSection(sectionCode, huge...),
		"local count":      withSection(sectionCode, append([]byte{1, 7, 1}, append(huge, 0x7f)...)...),
		"data count":       withSection(sectionData, huge...),
		"data bytes":       withSection(sectionData, append([]byte{1, 0x01}, huge...)...),
		"name map":         withSection(sectionCustom, append([]byte{4, 'n', 'a', 'm', 'e', 1, 5}, huge...)...),
		"local name map":   withSection(sectionCustom, append([]byte{4, 'n', 'a', 'm', 'e', 2, 5}, huge...)...),
		"section past end": append(append([]byte{}, header...), sectionType, 0x10, 0),
	}
	for name, code := range cases {
		t.Run(name, func(t *testing.T) {
			if err := Check(code, DefaultLimits); err == nil {
				t.Fatal("Check accepted the module")
			}
		})
	}
}

func TestCheckLimits(t *testing.T) {
	// 60,000 locals in one declaration: over the 50,000 limit.
	locals := withSection(sectionCode, 1, 5, 1, 0xe0, 0xd4, 0x03, 0x7f)
	err := Check(locals, DefaultLimits)
	if err == nil || errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "limit is 50000") {
		t.Errorf("Check of 60,000 locals = %v, want the locals limit", err)
	}

	// Two passive segments of 3 function indices each, limit 5.
	elements := withSection(sectionElement, 2, 0x01, 0x00, 3, 0, 0, 0, 0x01, 0x00, 3, 0, 0, 0)
	limits := DefaultLimits
	limits.ElementEntries = 5
	err = Check(elements, limits)
	if err == nil || !strings.Contains(err.Error(), "limit is 5") {
		t.Errorf("Check of 6 element entries = %v, want the element limit", err)
	}

	limits = DefaultLimits
	limits.ModuleBytes = 8
	if err := Check(withSection(sectionType, 0), limits); err == nil || !strings.Contains(err.Error(), "the limit is 8") {
		t.Errorf("Check of an oversized module = %v, want the size limit", err)
	}
}

func TestCheckAcceptsRepoModules(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "guests", "*.wasm"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no test guests found: %v", err)
	}
	paths = append(paths,
		filepath.Join("..", "..", "..", "examples", "audit", "audit.wasm"),
		filepath.Join("..", "..", "..", "examples", "claimfilter", "claimfilter.wasm"))
	for _, path := range paths {
		code, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(code, DefaultLimits); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// FuzzCheck checks that Check never panics and that every module it passes
// compiles in wazero without the process running out of memory.
func FuzzCheck(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "guests", "*.wasm"))
	for _, path := range paths {
		if code, err := os.ReadFile(path); err == nil {
			f.Add(code)
		}
	}
	f.Add(withSection(sectionElement, 2, 0x01, 0x00, 3, 0, 0, 0, 0x01, 0x00, 3, 0, 0, 0))
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(wazero.NewCompilationCache()))
	f.Fuzz(func(t *testing.T, code []byte) {
		if err := Check(code, DefaultLimits); err != nil {
			return
		}
		frozen, err := FreezeTables(code, 1<<20)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(frozen, header) {
			return
		}
		if compiled, err := rt.CompileModule(ctx, frozen); err == nil {
			_ = compiled.Close(ctx)
		}
	})
}
