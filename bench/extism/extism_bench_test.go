// Package extism_test measures Extism's Go SDK on the guest work of the
// runtime's BenchmarkCompare, so the figures can be set side by side. It is
// a module of its own, so Extism and the wazero version it pins stay out of
// tokenwire's dependencies.
package extism_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	extism "github.com/extism/go-sdk"
)

// event returns the first corpus event, padded with spaces or cut to
// 1024 bytes, the size of the runtime benchmarks' event.
func event(b *testing.B) []byte {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "events", "corpus.ndjson"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		b.Fatal(err)
	}
	line = bytes.TrimSpace(line)
	out := bytes.Repeat([]byte{' '}, 1024)
	copy(out, line[:min(len(line), 1024)])
	return out
}

// BenchmarkExtism calls "run" of each guest through a plugin, without a
// timeout and with a 500 ms timeout (Extism then sets wazero's
// WithCloseOnContextDone and a context.WithTimeout per call, as tokenwire
// did before instruction budgets).
func BenchmarkExtism(b *testing.B) {
	ev := event(b)
	quotes := uint32(bytes.Count(ev, []byte{'"'}))
	for _, guest := range []string{"minimal", "scan"} {
		for _, timeoutMS := range []uint64{0, 500} {
			name := guest + "/no_deadline"
			if timeoutMS > 0 {
				name = guest + "/timeout_500ms"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				manifest := extism.Manifest{
					Wasm:    []extism.Wasm{extism.WasmFile{Path: filepath.Join("testdata", guest+".wasm")}},
					Timeout: timeoutMS,
				}
				plugin, err := extism.NewPlugin(ctx, manifest, extism.PluginConfig{}, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer plugin.Close(ctx)
				b.SetBytes(int64(len(ev)))
				b.ReportAllocs()
				for b.Loop() {
					code, out, err := plugin.Call("run", ev)
					if err != nil || code != 0 {
						b.Fatalf("run: code %d, %v", code, err)
					}
					switch guest {
					case "minimal":
						if !bytes.Equal(out, ev) {
							b.Fatal("output differs from the input")
						}
					case "scan":
						if len(out) != 4 || binary.LittleEndian.Uint32(out) != quotes {
							b.Fatalf("output %x, want the count %d", out, quotes)
						}
					}
				}
			})
		}
	}
}
