// Package extism_test measures Extism's Go SDK on the guest work of the
// runtime's BenchmarkCompare, so the figures can be set side by side. It is
// a module of its own, so Extism and the wazero version it pins stay out of
// tokenwire's dependencies.
package extism_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	extism "github.com/extism/go-sdk"
)

// benchEventBytes is the size of the benchmark event, 1 KiB.
const benchEventBytes = 1024

// benchEvent returns the event of the runtime benchmarks (benchEvent in
// runtime/bench_test.go) as the runtime encodes it for event_read: an ID
// token event whose encoding is exactly benchEventBytes long, with a
// "padding" claim that fills the claims object.
func benchEvent() []byte {
	encode := func(padding int) []byte {
		return []byte(`{"id":"evt-bench-0001","type":"id_token.issued","time":1523304728,` +
			`"issuer":"https://issuer.example.com","client_id":"client-a","subject":"alice",` +
			`"claims":{"iss":"https://issuer.example.com","sub":"alice","aud":"client-a",` +
			`"iat":1523304728,"exp":1523308328,"padding":"` + strings.Repeat("a", padding) + `"}}`)
	}
	return encode(benchEventBytes - len(encode(0)))
}

// claimfilterOutput is what the claimfilter guests emit for benchEvent
// with claimfilterConfig.
const claimfilterOutput = `{"sub":"alice","iat":1523304728}`

// listenerModules are the tokenwire listener modules run through
// claimfilter_adapter.wat, by the names of their BenchmarkCompare guests.
var listenerModules = map[string]string{
	"claimfilter":   filepath.Join("..", "..", "examples", "claimfilter", "claimfilter.wasm"),
	"claimfilter_c": filepath.Join("..", "..", "examples", "claimfilter", "c", "claimfilter.wasm"),
}

// BenchmarkExtism calls each guest through a plugin, without a timeout
// and with a 500 ms timeout (Extism then sets wazero's
// WithCloseOnContextDone and a context.WithTimeout per call, as tokenwire
// did before instruction budgets). Every call passes benchEvent as the
// Extism input.
//
// minimal and scan are Extism guests written for this benchmark: the
// export "run" does the work of the runtime's guests of those names.
// claimfilter and claimfilter_c are the runtime's claimfilter modules,
// unchanged, linked to claimfilter_adapter.wat, with tw_init run once
// before the timed loop.
//
// Besides wall time, each reports cpu-ns/op: the CPU time of the OS
// thread that ran the loop, per operation, as the runtime's
// BenchmarkCompare does.
func BenchmarkExtism(b *testing.B) {
	event := benchEvent()
	for _, guest := range []string{"minimal", "scan", "claimfilter", "claimfilter_c"} {
		for _, timeoutMS := range []uint64{0, 500} {
			name := guest + "/no_deadline"
			if timeoutMS > 0 {
				name = guest + "/timeout_500ms"
			}
			b.Run(name, func(b *testing.B) {
				call := newGuestCall(b, guest, timeoutMS, event)
				b.SetBytes(int64(len(event)))
				b.ReportAllocs()
				defer reportCPU(b)()
				for b.Loop() {
					if err := call(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// newGuestCall returns a function that runs guest once on event and
// checks the result. For a listener guest it checks the emitted payload
// once, before it returns, and each call then only checks the return code.
func newGuestCall(b *testing.B, guest string, timeoutMS uint64, event []byte) func() error {
	ctx := context.Background()
	if path, ok := listenerModules[guest]; ok {
		var emitted []byte
		lp, err := newListenerPlugin(ctx, path, timeoutMS, claimfilterConfig, "stdout", func(payload []byte) {
			emitted = append(emitted, payload...)
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = lp.Close(ctx) })
		if err := lp.onEvent(ctx, event); err != nil {
			b.Fatal(err)
		}
		if string(emitted) != claimfilterOutput {
			b.Fatalf("%s emitted %q, expected %q", guest, emitted, claimfilterOutput)
		}
		// From here on the payload is dropped, as the runtime benchmarks'
		// sink drops it.
		lp.host.publish = func([]byte) {}
		return func() error { return lp.onEvent(ctx, event) }
	}

	manifest := extism.Manifest{
		Wasm:    []extism.Wasm{extism.WasmFile{Path: filepath.Join("testdata", guest+".wasm")}},
		Timeout: timeoutMS,
	}
	plugin, err := extism.NewPlugin(ctx, manifest, extism.PluginConfig{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = plugin.Close(ctx) })
	quotes := uint32(bytes.Count(event, []byte{'"'}))
	return func() error {
		code, out, err := plugin.Call("run", event)
		if err != nil || code != 0 {
			return fmt.Errorf("run: code %d, %v", code, err)
		}
		switch guest {
		case "minimal":
			if !bytes.Equal(out, event) {
				return fmt.Errorf("output differs from the input")
			}
		case "scan":
			if len(out) != 4 || binary.LittleEndian.Uint32(out) != quotes {
				return fmt.Errorf("output %x, expected the count %d", out, quotes)
			}
		}
		return nil
	}
}

// reportCPU pins the benchmark goroutine to its OS thread and returns a
// function that reports the thread's CPU time per operation as cpu-ns/op.
// An Extism call runs on the calling goroutine, so the figure covers the
// guest, the kernel and the host functions, though not the garbage
// collector's background work.
func reportCPU(b *testing.B) func() {
	goruntime.LockOSThread()
	start := threadCPU()
	return func() {
		used := threadCPU() - start
		goruntime.UnlockOSThread()
		if start != 0 && b.N > 0 {
			b.ReportMetric(float64(used)/float64(b.N), "cpu-ns/op")
		}
	}
}
