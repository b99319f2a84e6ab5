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

// module builds a binary with the given table section contents and a
// trailing custom section, to check what follows is kept.
func module(table []byte) []byte {
	b := append([]byte{}, header...)
	b = append(b, sectionTable)
	b = appendU32(b, uint32(len(table)))
	b = append(b, table...)
	custom := append(appendU32(nil, 4), "test"...)
	b = append(b, 0)
	b = appendU32(b, uint32(len(custom)))
	return append(b, custom...)
}

func TestFreezeTables(t *testing.T) {
	cases := []struct {
		name  string
		table []byte
		want  []byte // nil: unchanged
	}{
		{"no max", []byte{1, 0x70, 0x00, 0x80, 0x01}, []byte{1, 0x70, 0x01, 0x80, 0x01, 0x80, 0x01}},
		{"max above min", []byte{1, 0x70, 0x01, 0x02, 0x10}, []byte{1, 0x70, 0x01, 0x02, 0x02}},
		{"max equals min", []byte{1, 0x70, 0x01, 0x05, 0x05}, nil},
		{"two tables", []byte{2, 0x70, 0x00, 0x01, 0x6f, 0x01, 0x00, 0x03}, []byte{2, 0x70, 0x01, 0x01, 0x01, 0x6f, 0x01, 0x00, 0x00}},
		{"no tables", []byte{0}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := module(c.table)
			out, err := FreezeTables(in, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			want := in
			if c.want != nil {
				want = module(c.want)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("FreezeTables = % x, want % x", out, want)
			}
		})
	}
}

func TestFreezeTablesLimit(t *testing.T) {
	// Two tables of 600 elements each: 1200 in all.
	table := []byte{2, 0x70, 0x00, 0xd8, 0x04, 0x70, 0x00, 0xd8, 0x04}
	_, err := FreezeTables(module(table), 1000)
	if err == nil || !strings.Contains(err.Error(), "limit is 1000") {
		t.Errorf("error = %v, want the element limit named", err)
	}
}

func TestFreezeTablesMalformed(t *testing.T) {
	cases := map[string][]byte{
		"cut short":     append(append([]byte{}, header...), sectionTable, 10, 1),
		"bad flags":     module([]byte{1, 0x70, 0x04, 0x01}),
		"long leb":      module([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),
		"extra bytes":   module([]byte{1, 0x70, 0x00, 0x01, 0x00}),
		"missing table": module([]byte{2, 0x70, 0x00, 0x01}),
		"max below min": module([]byte{1, 0x70, 0x01, 0x0a, 0x05}),
	}
	for name, code := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := FreezeTables(code, 1<<20); !errors.Is(err, ErrMalformed) {
				t.Errorf("error = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestFreezeTablesRepoModules(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "guests", "*.wasm"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no test guests found: %v", err)
	}
	paths = append(paths, filepath.Join("..", "..", "..", "examples", "audit", "audit.wasm"))
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	for _, path := range paths {
		code, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(path, "tablebomb") {
			continue
		}
		out, err := FreezeTables(code, 1<<20)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		// The rewrite must leave a module wazero accepts. Section sizes may
		// shrink, because some linkers pad their LEB128 encoding.
		compiled, err := rt.CompileModule(ctx, out)
		if err != nil && !strings.Contains(path, "no_") && !strings.Contains(path, "bad_") {
			t.Errorf("%s: wazero rejects the rewritten module: %v", path, err)
			continue
		}
		if compiled != nil {
			_ = compiled.Close(ctx)
		}
	}
}

func FuzzFreezeTables(f *testing.F) {
	f.Add(module([]byte{1, 0x70, 0x00, 0x80, 0x01}))
	f.Add(module([]byte{2, 0x70, 0x00, 0x01, 0x6f, 0x01, 0x00, 0x03}))
	f.Add(append([]byte{}, header...))
	f.Fuzz(func(t *testing.T, code []byte) {
		out, err := FreezeTables(code, 1<<20)
		if err != nil {
			return
		}
		again, err := FreezeTables(out, 1<<20)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("second pass changed the output or failed: %v", err)
		}
	})
}
