package extism_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"
)

// withExportNames returns module, a WebAssembly binary, with a name
// section that names each exported function after its export, or module
// itself when it already has a name section. Custom sections do not change
// what a module does.
//
// Extism's Go SDK v1.7.1 links a non-main module by exporting, from a host
// module of the same name, a proxy for each of its functions under the
// function's name from the name section (wazero's FunctionDefinition.Name)
// instead of its export name. A module built with --strip-all, such as the
// C claimfilter, has no name section, so without this Extism links none of
// its functions.
func withExportNames(module []byte) ([]byte, error) {
	header := []byte("\x00asm\x01\x00\x00\x00")
	if !bytes.HasPrefix(module, header) {
		return nil, errors.New("not a WebAssembly 1.0 binary: the magic number and version are missing")
	}

	type export struct {
		index uint64
		name  string
	}
	var exports []export
	for rest := module[len(header):]; len(rest) > 0; {
		id := rest[0]
		size, n := binary.Uvarint(rest[1:])
		if n <= 0 || size > uint64(len(rest)-1-n) {
			return nil, fmt.Errorf("section %d at byte %d has an invalid size", id, len(module)-len(rest))
		}
		body := rest[1+n : 1+n+int(size)]
		rest = rest[1+n+int(size):]

		switch id {
		case 0: // custom section
			name, _, err := readName(body)
			if err != nil {
				return nil, fmt.Errorf("custom section: %w", err)
			}
			if name == "name" {
				return module, nil
			}
		case 7: // export section
			count, n := binary.Uvarint(body)
			if n <= 0 {
				return nil, errors.New("export section: invalid count")
			}
			body = body[n:]
			for range count {
				name, tail, err := readName(body)
				if err != nil || len(tail) < 2 {
					return nil, fmt.Errorf("export section: invalid export %q", name)
				}
				kind := tail[0]
				index, n := binary.Uvarint(tail[1:])
				if n <= 0 {
					return nil, fmt.Errorf("export section: export %q has an invalid index", name)
				}
				body = tail[1+n:]
				if kind == 0 { // function
					exports = append(exports, export{index, name})
				}
			}
		}
	}

	// The function name map lists each index once, in increasing order.
	slices.SortStableFunc(exports, func(a, b export) int { return cmp.Compare(a.index, b.index) })
	exports = slices.CompactFunc(exports, func(a, b export) bool { return a.index == b.index })
	names := binary.AppendUvarint(nil, uint64(len(exports)))
	for _, e := range exports {
		names = binary.AppendUvarint(names, e.index)
		names = appendName(names, e.name)
	}
	subsection := append([]byte{1}, binary.AppendUvarint(nil, uint64(len(names)))...) // function names
	subsection = append(subsection, names...)
	content := append(appendName(nil, "name"), subsection...)

	out := slices.Clip(module)
	out = append(out, 0)
	out = binary.AppendUvarint(out, uint64(len(content)))
	return append(out, content...), nil
}

// readName reads a length-prefixed UTF-8 name from b and returns it with
// the bytes after it.
func readName(b []byte) (string, []byte, error) {
	size, n := binary.Uvarint(b)
	if n <= 0 || size > uint64(len(b)-n) {
		return "", nil, errors.New("invalid name length")
	}
	return string(b[n : n+int(size)]), b[n+int(size):], nil
}

// appendName appends name with its length prefix.
func appendName(b []byte, name string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(name))), name...)
}

func TestWithExportNames(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	for guest, path := range listenerModules {
		t.Run(guest, func(t *testing.T) {
			module, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			named, err := withExportNames(module)
			if err != nil {
				t.Fatal(err)
			}
			compiled, err := rt.CompileModule(ctx, named)
			if err != nil {
				t.Fatalf("module with the added name section: %v", err)
			}
			for _, export := range []string{"tw_init", "tw_on_event"} {
				if name := compiled.ExportedFunctions()[export].Name(); name != export {
					t.Errorf("function exported as %s is named %q", export, name)
				}
			}
		})
	}
	t.Run("not_wasm", func(t *testing.T) {
		if _, err := withExportNames([]byte("(module)")); err == nil {
			t.Error("text accepted as a WebAssembly binary")
		}
	})
	t.Run("truncated", func(t *testing.T) {
		module, err := os.ReadFile(listenerModules["claimfilter_c"])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := withExportNames(module[:len(module)-1]); err == nil {
			t.Error("truncated module accepted")
		}
	})
}
