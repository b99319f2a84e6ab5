package conformance_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

// Benchmarks of each language's build of the audit listener in a plain
// wazero runtime, with a stand-in host module whose sign returns a fixed
// token of a realistic size. They measure what differs between languages
// (module size, instantiation, memory, the guest's work per event) and
// leave out signing, which the runtime benchmarks measure and which is the
// same for every language. docs/benchmarks.md records the results.

// benchHost is the stand-in host: one event, "{}" as config, a fixed
// signed token, and emit, log and set_error that accept everything.
type benchHost struct {
	event  []byte
	token  []byte
	emits  int
	failed string
}

// readInto copies min(len, total) bytes of src to guest memory at ptr and
// returns the total, as the read host functions do.
func readInto(m api.Module, src []byte, ptr, n uint32) int32 {
	if n > uint32(len(src)) {
		n = uint32(len(src))
	}
	if !m.Memory().Write(ptr, src[:n]) {
		return int32(abi.StatusInvalidMemory)
	}
	return int32(len(src))
}

// instantiate defines the stand-in host module in r. Its functions use
// api.GoModuleFunc, as the runtime's do, because WithFunc's reflection
// would add about a microsecond to every call.
func (h *benchHost) instantiate(ctx context.Context, r wazero.Runtime) error {
	i32 := api.ValueTypeI32
	builder := r.NewHostModuleBuilder(abi.ImportModule)
	define := func(name string, params int, fn func(m api.Module, stack []uint64) int32) {
		types := make([]api.ValueType, params)
		for i := range types {
			types[i] = i32
		}
		builder.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, m api.Module, stack []uint64) {
			stack[0] = api.EncodeI32(fn(m, stack))
		}), types, []api.ValueType{i32}).Export(name)
	}
	read := func(src func() []byte) func(api.Module, []uint64) int32 {
		return func(m api.Module, stack []uint64) int32 {
			return readInto(m, src(), api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
		}
	}
	define(abi.FuncEventRead, 2, read(func() []byte { return h.event }))
	define(abi.FuncConfigRead, 2, read(func() []byte { return []byte("{}") }))
	define(abi.FuncResultRead, 2, read(func() []byte { return h.token }))
	define(abi.FuncSign, 2, func(m api.Module, stack []uint64) int32 {
		if _, ok := m.Memory().Read(api.DecodeU32(stack[0]), api.DecodeU32(stack[1])); !ok {
			return int32(abi.StatusInvalidMemory)
		}
		return int32(len(h.token))
	})
	define(abi.FuncEmit, 4, func(api.Module, []uint64) int32 {
		h.emits++
		return 0
	})
	define(abi.FuncLog, 3, func(api.Module, []uint64) int32 { return 0 })
	define(abi.FuncSetError, 2, func(m api.Module, stack []uint64) int32 {
		msg, _ := m.Memory().Read(api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
		h.failed = string(msg)
		return 0
	})
	_, err := builder.Instantiate(ctx)
	return err
}

// benchBuilds are the audit builds the benchmarks compare.
var benchBuilds = []build{goBuild, cBuild, cFreeBuild, rustBuild, asBuild, watBuild}

// newBenchRuntime compiles b's audit module in a runtime with the stand-in
// host and WASI.
func newBenchRuntime(tb testing.TB, b build) (wazero.Runtime, wazero.CompiledModule, *benchHost) {
	tb.Helper()
	ctx := context.Background()
	wasm, err := os.ReadFile(b.module("audit"))
	if err != nil {
		tb.Fatal(err)
	}
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	tb.Cleanup(func() { _ = r.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	host := &benchHost{token: []byte(strings.Repeat("t", 700))}
	ev := readEvents(tb, filepath.Join("..", "..", "testdata", "events", "alice.json"))[0]
	host.event = intake.Encode(ev)
	if err := host.instantiate(ctx, r); err != nil {
		tb.Fatal(err)
	}
	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	return r, compiled, host
}

// start instantiates one instance and runs _initialize (when exported) and
// tw_init, as the host does.
func startInstance(tb testing.TB, r wazero.Runtime, compiled wazero.CompiledModule, host *benchHost) api.Module {
	tb.Helper()
	ctx := context.Background()
	m, err := r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		tb.Fatal(err)
	}
	if f := m.ExportedFunction(abi.ExportInitialize); f != nil {
		if _, err := f.Call(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	res, err := m.ExportedFunction(abi.ExportInit).Call(ctx, 2)
	if err != nil || res[0] != 0 {
		tb.Fatalf("tw_init: %v %v %s", res, err, host.failed)
	}
	return m
}

func BenchmarkAuditInstantiate(b *testing.B) {
	for _, build := range benchBuilds {
		b.Run(build.lang, func(b *testing.B) {
			r, compiled, host := newBenchRuntime(b, build)
			info, err := os.Stat(build.module("audit"))
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				m := startInstance(b, r, compiled, host)
				_ = m.Close(context.Background())
			}
			// After the loop, because ResetTimer drops reported metrics.
			b.ReportMetric(float64(info.Size()), "module-bytes")
		})
	}
}

func BenchmarkAuditEvent(b *testing.B) {
	ctx := context.Background()
	for _, build := range benchBuilds {
		b.Run(build.lang, func(b *testing.B) {
			r, compiled, host := newBenchRuntime(b, build)
			m := startInstance(b, r, compiled, host)
			startMem := m.Memory().Size()
			onEvent := m.ExportedFunction(abi.ExportOnEvent)
			stack := make([]uint64, 1)
			n := uint64(len(host.event))
			b.SetBytes(int64(n))
			b.ResetTimer()
			for b.Loop() {
				stack[0] = n
				if err := onEvent.CallWithStack(ctx, stack); err != nil || stack[0] != 0 {
					b.Fatalf("tw_on_event: %v %v %s", stack, err, host.failed)
				}
			}
			b.StopTimer()
			if host.emits == 0 {
				b.Fatal("no SET emitted")
			}
			b.ReportMetric(float64(startMem), "start-mem-bytes")
			b.ReportMetric(float64(m.Memory().Size()), "end-mem-bytes")
		})
	}
}
