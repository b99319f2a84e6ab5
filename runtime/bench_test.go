package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/internal/cputime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
	"github.com/tokenwire/tokenwire/runtime/internal/wasmbin"
	"github.com/tokenwire/tokenwire/runtime/signer"
	"github.com/tokenwire/tokenwire/runtime/sink"
)

// Benchmarks of the dispatch path. docs/benchmarks.md records results and
// the command that produced them. The sink "stdout" is a discardSink in
// every benchmark, so the figures exclude sink I/O.

// benchEventBytes is the size of the encoded benchmark event, 1 KiB.
const benchEventBytes = 1024

// auditModule is the prebuilt Go audit example, which signs one SET per
// event and emits it.
var auditModule = filepath.Join("..", "examples", "audit", "audit.wasm")

// discardSink accepts every payload and drops it.
type discardSink struct{}

func (discardSink) Publish(context.Context, []byte) error { return nil }
func (discardSink) Close(context.Context) error           { return nil }

// benchEvent returns a valid ID token event whose encoding is exactly
// benchEventBytes long. A "padding" claim fills the claims object.
func benchEvent(b *testing.B) *abi.Event {
	b.Helper()
	ev := testEvent("evt-bench-0001")
	claims := func(padding int) []byte {
		return []byte(`{"iss":"https://issuer.example.com","sub":"alice","aud":"client-a",` +
			`"iat":1523304728,"exp":1523308328,"padding":"` + strings.Repeat("a", padding) + `"}`)
	}
	ev.Claims = claims(0)
	padding := benchEventBytes - len(intake.Encode(ev))
	if padding < 0 {
		b.Fatalf("benchmark event without padding is %d bytes, more than %d", len(intake.Encode(ev)), benchEventBytes)
	}
	ev.Claims = claims(padding)

	encoded := intake.Encode(ev)
	if len(encoded) != benchEventBytes {
		b.Fatalf("benchmark event encodes to %d bytes, expected %d", len(encoded), benchEventBytes)
	}
	if _, err := intake.Normalize(encoded, intake.Options{DefaultIssuer: testIssuer}); err != nil {
		b.Fatalf("benchmark event is invalid: %v", err)
	}
	return ev
}

// newBenchRuntime starts a runtime for listeners that logs nothing, signs
// with s (which may be nil) and sends the sink "stdout" to a discardSink.
// The runtime is closed when the benchmark ends.
func newBenchRuntime(b testing.TB, s Signer, listeners []config.Listener, opts ...Option) *Runtime {
	b.Helper()
	cfg := benchConfig(b, listeners)
	opts = append([]Option{
		WithLogger(slog.New(slog.DiscardHandler)),
		WithSink("stdout", discardSink{}),
	}, opts...)
	if s != nil {
		opts = append(opts, WithSigner(s))
	}
	rt, err := New(context.Background(), cfg, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rt.Close(context.Background()) })
	return rt
}

// benchConfig returns a normalized config with the sink "stdout" and
// listeners.
func benchConfig(b testing.TB, listeners []config.Listener) *config.Config {
	b.Helper()
	cfg := &config.Config{
		Issuer:    testIssuer,
		Sinks:     []config.Sink{{Name: "stdout", Type: "stdout"}},
		Listeners: listeners,
	}
	if err := cfg.Normalize(); err != nil {
		b.Fatal(err)
	}
	return cfg
}

// minimalListener returns the minimal guest with the stdout sink and
// without the sign grant, so it needs no signer.
func minimalListener(poolSize int) config.Listener {
	lc := listenerFor("minimal", "minimal")
	lc.Sign = false
	lc.PoolSize = poolSize
	return lc
}

// auditListener returns the Go audit example, emitting to "stdout".
//
// The deadline is 10 s instead of the default 500 ms because one deadline
// covers instantiation, _initialize and tw_init. Those take about 5 ms on an
// idle machine, but exceeded 500 ms in some runs on a 2-vCPU VM with a load
// average of 7.5, which failed New. The deadline value does not change the
// per-call cost, because every call creates its timer either way.
func auditListener() config.Listener {
	return config.Listener{
		Name:       "audit",
		Module:     auditModule,
		ConfigJSON: []byte(`{"sink":"stdout"}`),
		Sign:       true,
		Sinks:      []string{"stdout"},
		Deadline:   config.Duration(10 * time.Second),
	}
}

// benchSigners returns the signers the audit benchmarks compare: a
// generated RSA 2048 key (RS256) and an EC P-256 key (ES256).
func benchSigners(b *testing.B) []*signer.Signer {
	b.Helper()
	rs256, err := signer.Ephemeral(signer.Options{Issuer: testIssuer})
	if err != nil {
		b.Fatal(err)
	}
	return []*signer.Signer{rs256, testSigner(b)}
}

// BenchmarkDispatchMinimal measures one event through the minimal guest:
// pool checkout, per-call context with deadline, event_read, emit and the
// sink call. "Dispatch" includes intake.Encode, "DispatchEncoded" does not.
func BenchmarkDispatchMinimal(b *testing.B) {
	ev := benchEvent(b)
	encoded := intake.Encode(ev)
	ctx := context.Background()

	b.Run("DispatchEncoded", func(b *testing.B) {
		rt := newBenchRuntime(b, nil, []config.Listener{minimalListener(1)})
		b.SetBytes(int64(len(encoded)))
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if err := rt.DispatchEncoded(ctx, ev.ID, ev.Type, encoded); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Dispatch", func(b *testing.B) {
		rt := newBenchRuntime(b, nil, []config.Listener{minimalListener(1)})
		b.SetBytes(int64(len(encoded)))
		b.ReportAllocs()
		for b.Loop() {
			if err := rt.Dispatch(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEncodeEvent measures intake.Encode of the benchmark event, the
// step that BenchmarkDispatchMinimal/Dispatch adds to DispatchEncoded, and
// intake.AppendEncode into a reused buffer, which does not allocate.
func BenchmarkEncodeEvent(b *testing.B) {
	ev := benchEvent(b)
	size := int64(len(intake.Encode(ev)))

	b.Run("Encode", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			intake.Encode(ev)
		}
	})
	b.Run("AppendEncode", func(b *testing.B) {
		buf := make([]byte, 0, 2*size)
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			buf = intake.AppendEncode(buf[:0], ev)
		}
	})
}

// nativeSink is an interface value so that the compiler cannot inline or
// remove the Publish call in BenchmarkNativeCopy.
var nativeSink sink.Sink = discardSink{}

// BenchmarkNativeCopy is the Go baseline of BenchmarkDispatchMinimal: it
// copies the encoded event into a 64 KiB buffer, as event_read copies it
// into guest memory, and publishes the copy to a discardSink.
func BenchmarkNativeCopy(b *testing.B) {
	encoded := intake.Encode(benchEvent(b))
	buf := make([]byte, 64<<10)
	ctx := context.Background()
	b.SetBytes(int64(len(encoded)))
	b.ReportAllocs()
	for b.Loop() {
		n := copy(buf, encoded)
		if err := nativeSink.Publish(ctx, buf[:n]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispatchParallel measures DispatchEncoded to the minimal guest
// from GOMAXPROCS goroutines, with a pool of GOMAXPROCS instances.
func BenchmarkDispatchParallel(b *testing.B) {
	ev := benchEvent(b)
	encoded := intake.Encode(ev)
	rt := newBenchRuntime(b, nil, []config.Listener{minimalListener(goruntime.GOMAXPROCS(0))})
	ctx := context.Background()

	b.SetBytes(int64(len(encoded)))
	b.ReportAllocs()
	b.ResetTimer()
	// Process CPU time per event rises above the sequential figure when
	// the goroutines contend for shared memory.
	start := cputime.Process()
	defer func() {
		if start != 0 && b.N > 0 {
			b.ReportMetric(float64(cputime.Process()-start)/float64(b.N), "cpu-ns/op")
		}
	}()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := rt.DispatchEncoded(ctx, ev.ID, ev.Type, encoded); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDispatchAuditGo measures one event through the Go audit example,
// which decodes the event, builds the SET claims, calls sign and emits the
// token, per signing algorithm.
func BenchmarkDispatchAuditGo(b *testing.B) {
	ev := benchEvent(b)
	encoded := intake.Encode(ev)
	ctx := context.Background()
	for _, s := range benchSigners(b) {
		b.Run(s.Algorithm(), func(b *testing.B) {
			rt := newBenchRuntime(b, s, []config.Listener{auditListener()})
			b.SetBytes(int64(len(encoded)))
			b.ReportAllocs()
			for b.Loop() {
				if err := rt.DispatchEncoded(ctx, ev.ID, ev.Type, encoded); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDispatchClaimfilterGo measures one event through the Go
// claimfilter example, which decodes the event and its claims and emits a
// JSON object without signing. It is the Go guest baseline for
// BenchmarkDispatchAuditGo.
func BenchmarkDispatchClaimfilterGo(b *testing.B) {
	ev := benchEvent(b)
	encoded := intake.Encode(ev)
	ctx := context.Background()
	lc := auditListener()
	lc.Name = "claimfilter"
	lc.Module = filepath.Join("..", "examples", "claimfilter", "claimfilter.wasm")
	lc.ConfigJSON = []byte(`{"claims":["sub","iat"],"sink":"stdout"}`)
	lc.Sign = false
	rt := newBenchRuntime(b, nil, []config.Listener{lc})

	b.SetBytes(int64(len(encoded)))
	b.ReportAllocs()
	for b.Loop() {
		if err := rt.DispatchEncoded(ctx, ev.ID, ev.Type, encoded); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWazeroCloseOnContextDone runs tw_on_event of the Go claimfilter
// example in a plain wazero runtime with WithCloseOnContextDone off and on,
// each call under context.WithTimeout as the runtime makes it. A stand-in
// "tokenwire" host module copies the event and config and accepts every
// emit, so the figures exclude the tokenwire host functions.
//
// With the option on, the wazero v1.12.0 compiler adds a call at every loop
// header that leaves native code to check in Go whether the module was
// closed, so the cost grows with the loop iterations a guest runs. The
// runtime always turns the option on, because it is how wazero ends a call
// at its deadline.
func BenchmarkWazeroCloseOnContextDone(b *testing.B) {
	code, err := os.ReadFile(filepath.Join("..", "examples", "claimfilter", "claimfilter.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	event := intake.Encode(benchEvent(b))
	configJSON := []byte(`{"claims":["sub","iat"],"sink":"stdout"}`)

	for _, closeOnDone := range []bool{false, true} {
		b.Run(fmt.Sprintf("close_on_done=%t", closeOnDone), func(b *testing.B) {
			ctx := context.Background()
			onEvent := instantiateStandIn(b, code, event, configJSON, closeOnDone, false).ExportedFunction(abi.ExportOnEvent)
			b.SetBytes(int64(len(event)))
			b.ReportAllocs()
			for b.Loop() {
				callCtx, cancel := context.WithTimeout(ctx, config.DefaultDeadline)
				results, err := onEvent.Call(callCtx, uint64(len(event)))
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				if results[0] != 0 {
					b.Fatalf("tw_on_event returned %d", int32(results[0]))
				}
			}
		})
	}
}

// instantiateStandIn instantiates code with WASI and a stand-in "tokenwire"
// host module that returns event and configJSON and reads each emitted
// payload, runs _initialize and tw_init when exported, and returns the
// module. With metered, code is first rewritten with wasmbin.Meter and a
// refuel function grants slices without end. The wazero runtime is closed
// when the benchmark ends.
func instantiateStandIn(b *testing.B, code, event, configJSON []byte, closeOnDone, metered bool) api.Module {
	b.Helper()
	ctx := context.Background()
	wasm := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(processCache()).
		WithCloseOnContextDone(closeOnDone))
	b.Cleanup(func() { _ = wasm.Close(ctx) })
	if metered {
		var err error
		if code, err = wasmbin.Meter(code); err != nil {
			b.Fatal(err)
		}
		// An unlimited budget, handed out a slice at a time as the runtime
		// does.
		refuel := func(_ context.Context, mod api.Module, _ []uint64) {
			mod.ExportedGlobal(wasmbin.BudgetExport).(api.MutableGlobal).Set(refuelSlice)
		}
		_, err = wasm.NewHostModuleBuilder(wasmbin.RefuelModule).NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(refuel), nil, nil).Export(wasmbin.RefuelName).Instantiate(ctx)
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, wasm); err != nil {
		b.Fatal(err)
	}

	i32s := func(n int) []api.ValueType { return slices.Repeat([]api.ValueType{api.ValueTypeI32}, n) }
	copyOut := func(src []byte) api.GoModuleFunc {
		return func(_ context.Context, mod api.Module, stack []uint64) {
			ptr, length := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
			status := int32(len(src))
			if !mod.Memory().Write(ptr, src[:min(int(length), len(src))]) {
				status = int32(abi.StatusInvalidMemory)
			}
			stack[0] = api.EncodeI32(status)
		}
	}
	returns := func(status int32) api.GoModuleFunc {
		return func(_ context.Context, _ api.Module, stack []uint64) { stack[0] = api.EncodeI32(status) }
	}
	emit := func(ctx context.Context, mod api.Module, stack []uint64) {
		data, ok := mod.Memory().Read(api.DecodeU32(stack[2]), api.DecodeU32(stack[3]))
		status := int32(abi.StatusInvalidMemory)
		if ok && (discardSink{}).Publish(ctx, data) == nil {
			status = 0
		}
		stack[0] = api.EncodeI32(status)
	}
	host := wasm.NewHostModuleBuilder(abi.ImportModule)
	for _, f := range []struct {
		name   string
		params int
		fn     api.GoModuleFunc
	}{
		{abi.FuncEventRead, 2, copyOut(event)},
		{abi.FuncConfigRead, 2, copyOut(configJSON)},
		{abi.FuncLog, 3, returns(0)},
		{abi.FuncSetError, 2, returns(0)},
		{abi.FuncSign, 2, returns(int32(abi.StatusNotPermitted))},
		{abi.FuncResultRead, 2, returns(int32(abi.StatusNotFound))},
		{abi.FuncEmit, 4, emit},
	} {
		host.NewFunctionBuilder().WithGoModuleFunction(f.fn, i32s(f.params), i32s(1)).Export(f.name)
	}
	if _, err := host.Instantiate(ctx); err != nil {
		b.Fatal(err)
	}

	mod, err := wasm.InstantiateWithConfig(ctx, code, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		b.Fatal(err)
	}
	if initialize := mod.ExportedFunction(abi.ExportInitialize); initialize != nil {
		if _, err := initialize.Call(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if initFn := mod.ExportedFunction(abi.ExportInit); initFn != nil {
		results, err := initFn.Call(ctx, uint64(len(configJSON)))
		if err != nil {
			b.Fatal(err)
		}
		if results[0] != 0 {
			b.Fatalf("tw_init returned %d", int32(results[0]))
		}
	}
	return mod
}

// BenchmarkSignAuditClaims measures Signer.Sign alone on claims of the
// shape the audit example builds for the benchmark event, with the signers
// of BenchmarkDispatchAuditGo, so the two can be compared.
func BenchmarkSignAuditClaims(b *testing.B) {
	ev := benchEvent(b)
	claims := fmt.Appendf(nil, `{"txn":%q,"sub_id":{"format":"iss_sub","iss":%q,"sub":%q},`+
		`"events":{"https://tokenwire.dev/secevent/token-issued":`+
		`{"token_type":"id_token","client_id":%q,"issued_at":%d,"event_id":%q}}}`,
		ev.ID, ev.Issuer, ev.Subject, ev.ClientID, ev.Time, ev.ID)
	for _, s := range benchSigners(b) {
		b.Run(s.Algorithm(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoadAuditGo measures New and Close of a runtime with the Go
// audit example. "Compile" gives each runtime a new compilation cache, so
// every iteration compiles the module. "Cached" shares one warm cache, so an
// iteration creates the wazero runtime, instantiates WASI and the host
// module, and starts one instance (instantiation, _initialize and tw_init).
func BenchmarkLoadAuditGo(b *testing.B) {
	ctx := context.Background()
	s := testSigner(b)
	cfg := benchConfig(b, []config.Listener{auditListener()})
	load := func(b *testing.B, cache wazero.CompilationCache) {
		b.Helper()
		rt, err := New(ctx, cfg,
			WithLogger(slog.New(slog.DiscardHandler)),
			WithSigner(s),
			WithSink("stdout", discardSink{}),
			WithCompilationCache(cache))
		if err != nil {
			b.Fatal(err)
		}
		if err := rt.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("Compile", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cache := wazero.NewCompilationCache()
			load(b, cache)
			if err := cache.Close(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Cached", func(b *testing.B) {
		cache := wazero.NewCompilationCache()
		b.Cleanup(func() { _ = cache.Close(ctx) })
		load(b, cache)
		b.ReportAllocs()
		for b.Loop() {
			load(b, cache)
		}
	})
}

// BenchmarkNewInstance measures the creation of one pool instance of a
// loaded listener (instantiation, _initialize and tw_init) and its close.
// The pool creates an instance when an event finds no idle one and the pool
// is below its size.
func BenchmarkNewInstance(b *testing.B) {
	ctx := context.Background()
	cases := []struct {
		name     string
		listener config.Listener
	}{
		{"minimal", minimalListener(1)},
		{"audit", auditListener()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			rt := newBenchRuntime(b, testSigner(b), []config.Listener{c.listener})
			l := rt.listener(0)
			b.ReportAllocs()
			for b.Loop() {
				inst, err := l.newInstance(ctx)
				if err != nil {
					b.Fatal(err)
				}
				inst.close(ctx)
			}
		})
	}
}
