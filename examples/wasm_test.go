package examples_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/examples"
)

// These tests run the committed .wasm files in wazero with a stand-in for
// the tokenwire host module, to show that the prebuilt modules load and
// follow the ABI. The stand-in copies and records data but enforces no
// limits and signs nothing.

// fakeToken is what the stand-in sign function returns for any claims.
const fakeToken = "eyJhbGciOiJub25lIn0.eyJmYWtlIjp0cnVlfQ."

const aliceEvent = `{"id":"evt-1","type":"id_token.issued","time":1523304728,` +
	`"issuer":"https://op.example","client_id":"app","subject":"alice",` +
	`"claims":{"iss":"https://op.example","sub":"alice","aud":"app","iat":1523304728,"exp":1523308328}}`

// emitted is one call of the stand-in emit function.
type emitted struct {
	sink string
	data string
}

// standInHost is the state behind one instance's "tokenwire" host module.
type standInHost struct {
	config    []byte
	event     []byte // nil outside tw_on_event
	signErr   abi.Status
	result    []byte
	signed    []string
	emits     []emitted
	logs      []string
	lastError string
}

// readGuest returns a copy of guest memory at ptr, or false when the range
// is outside memory.
func readGuest(m api.Module, ptr, length uint32) ([]byte, bool) {
	data, ok := m.Memory().Read(ptr, length)
	if !ok {
		return nil, false
	}
	return bytes.Clone(data), true
}

// copyToGuest implements the read functions: it copies as much of value as
// fits into the guest buffer and returns the total length.
func copyToGuest(m api.Module, value []byte, ptr, length uint32) int32 {
	if value == nil {
		return int32(abi.StatusNotFound)
	}
	n := min(int(length), len(value))
	if !m.Memory().Write(ptr, value[:n]) {
		return int32(abi.StatusInvalidMemory)
	}
	return int32(len(value))
}

// instantiate defines the stand-in host module in r.
func (h *standInHost) instantiate(ctx context.Context, t *testing.T, r wazero.Runtime) {
	t.Helper()
	builder := r.NewHostModuleBuilder(abi.ImportModule)
	builder.NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, ptr, length uint32) int32 {
		return copyToGuest(m, h.event, ptr, length)
	}).Export(abi.FuncEventRead)
	builder.NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, ptr, length uint32) int32 {
		config := h.config
		if config == nil {
			config = []byte("{}")
		}
		return copyToGuest(m, config, ptr, length)
	}).Export(abi.FuncConfigRead)
	builder.NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, level, ptr, length uint32) int32 {
		msg, ok := readGuest(m, ptr, length)
		if !ok {
			return int32(abi.StatusInvalidMemory)
		}
		h.logs = append(h.logs, string(msg))
		return 0
	}).Export(abi.FuncLog)
	builder.NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, ptr, length uint32) int32 {
		msg, ok := readGuest(m, ptr, length)
		if !ok {
			return int32(abi.StatusInvalidMemory)
		}
		h.lastError = string(msg)
		return 0
	}).Export(abi.FuncSetError)
	builder.NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, ptr, length uint32) int32 {
		claims, ok := readGuest(m, ptr, length)
		if !ok {
			return int32(abi.StatusInvalidMemory)
		}
		h.signed = append(h.signed, string(claims))
		if h.signErr != 0 {
			return int32(h.signErr)
		}
		h.result = []byte(fakeToken)
		return int32(len(fakeToken))
	}).Export(abi.FuncSign)
	builder.NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, ptr, length uint32) int32 {
		return copyToGuest(m, h.result, ptr, length)
	}).Export(abi.FuncResultRead)
	builder.NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, sinkPtr, sinkLen, dataPtr, dataLen uint32) int32 {
		sink, ok := readGuest(m, sinkPtr, sinkLen)
		if !ok {
			return int32(abi.StatusInvalidMemory)
		}
		data, ok := readGuest(m, dataPtr, dataLen)
		if !ok {
			return int32(abi.StatusInvalidMemory)
		}
		h.emits = append(h.emits, emitted{sink: string(sink), data: string(data)})
		return 0
	}).Export(abi.FuncEmit)
	if _, err := builder.Instantiate(ctx); err != nil {
		t.Fatalf("instantiate stand-in host module: %v", err)
	}
}

// compilationCache keeps compiled modules between tests, because compiling
// a Go guest takes most of a test's time.
var compilationCache = wazero.NewCompilationCache()

// guest is one running instance of a listener module.
type guest struct {
	t      *testing.T
	ctx    context.Context
	host   *standInHost
	module api.Module
}

// startGuest instantiates wasm with a new stand-in host, calls _initialize
// and tw_init with config, and checks that tw_init returned wantInit.
func startGuest(t *testing.T, wasm []byte, config string, wantInit int32) *guest {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(compilationCache))
	t.Cleanup(func() { r.Close(ctx) })

	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	host := &standInHost{}
	if config != "" {
		host.config = []byte(config)
	}
	host.instantiate(ctx, t, r)

	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("compile module: %v", err)
	}
	checkModuleInterface(t, compiled)

	start := time.Now()
	module, err := r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithStartFunctions())
	if err != nil {
		t.Fatalf("instantiate module: %v", err)
	}
	g := &guest{t: t, ctx: ctx, host: host, module: module}
	g.call(abi.ExportInitialize)
	t.Logf("instantiate and _initialize took %v; memory is %d pages", time.Since(start), module.Memory().Size()/65536)

	if got := g.call(abi.ExportInit, uint64(len(host.config))); int32(got) != wantInit {
		t.Fatalf("tw_init returned %d, want %d; set_error message %q", int32(got), wantInit, host.lastError)
	}
	return g
}

// checkModuleInterface checks that the module exports everything ABI version 1
// requires of a Go guest and imports only the permitted modules.
func checkModuleInterface(t *testing.T, compiled wazero.CompiledModule) {
	t.Helper()
	functions := compiled.ExportedFunctions()
	for _, name := range []string{
		abi.ExportVersionMarker, abi.ExportOnEvent, abi.ExportInit,
		abi.ExportShutdown, abi.ExportInitialize,
	} {
		if _, ok := functions[name]; !ok {
			t.Errorf("module does not export function %q", name)
		}
	}
	if _, ok := compiled.ExportedMemories()[abi.ExportMemory]; !ok {
		t.Errorf("module does not export memory %q", abi.ExportMemory)
	}
	for _, imported := range compiled.ImportedFunctions() {
		module, name, _ := imported.Import()
		if module != abi.ImportModule && module != abi.ImportModuleWASI {
			t.Errorf("module imports %s.%s from a module other than %s and %s",
				module, name, abi.ImportModule, abi.ImportModuleWASI)
		}
	}
}

// call calls the exported function name and returns its first result, or 0
// when it has none.
func (g *guest) call(name string, params ...uint64) uint64 {
	g.t.Helper()
	fn := g.module.ExportedFunction(name)
	if fn == nil {
		g.t.Fatalf("module has no export %q", name)
	}
	results, err := fn.Call(g.ctx, params...)
	if err != nil {
		g.t.Fatalf("call %s: %v", name, err)
	}
	if len(results) == 0 {
		return 0
	}
	return results[0]
}

// deliver calls tw_on_event with event and returns its result.
func (g *guest) deliver(event string) int32 {
	g.t.Helper()
	g.host.event = []byte(event)
	g.host.result = nil
	defer func() { g.host.event = nil }()
	return int32(g.call(abi.ExportOnEvent, uint64(len(event))))
}

func readModule(t *testing.T, path string) []byte {
	t.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read committed module: %v", err)
	}
	return wasm
}

func TestAuditModuleEmbedded(t *testing.T) {
	if !bytes.Equal(examples.AuditModule, readModule(t, "audit/audit.wasm")) {
		t.Error("AuditModule differs from audit/audit.wasm")
	}
}

func TestAuditModuleEmitsSignedSET(t *testing.T) {
	g := startGuest(t, examples.AuditModule, `{"sink":"audit-log","audience":"https://siem.example"}`, 0)
	if code := g.deliver(aliceEvent); code != 0 {
		t.Fatalf("tw_on_event returned %d; set_error message %q", code, g.host.lastError)
	}

	wantClaims := `{"aud":"https://siem.example","txn":"evt-1",` +
		`"sub_id":{"format":"iss_sub","iss":"https://op.example","sub":"alice"},` +
		`"events":{"https://tokenwire.dev/secevent/token-issued":` +
		`{"token_type":"id_token","client_id":"app","issued_at":1523304728,"event_id":"evt-1"}}}`
	if len(g.host.signed) != 1 || g.host.signed[0] != wantClaims {
		t.Errorf("signed claims = %q, want [%s]", g.host.signed, wantClaims)
	}
	want := emitted{sink: "audit-log", data: fakeToken}
	if len(g.host.emits) != 1 || g.host.emits[0] != want {
		t.Errorf("emits = %+v, want [%+v]", g.host.emits, want)
	}
	g.call(abi.ExportShutdown)
}

func TestAuditModuleReportsSignFailure(t *testing.T) {
	g := startGuest(t, examples.AuditModule, "", 0)
	g.host.signErr = abi.StatusNotPermitted
	if code := g.deliver(aliceEvent); code != 1 {
		t.Fatalf("tw_on_event returned %d, want 1", code)
	}
	want := "audit: sign SET for event evt-1: tokenwire: NOT_PERMITTED"
	if g.host.lastError != want {
		t.Errorf("set_error message = %q, want %q", g.host.lastError, want)
	}
	if len(g.host.emits) != 0 {
		t.Errorf("emitted %d times after a failed sign, want 0", len(g.host.emits))
	}
}

func TestClaimFilterModuleEmitsClaims(t *testing.T) {
	g := startGuest(t, readModule(t, "claimfilter/claimfilter.wasm"), `{"claims":["sub","iat"]}`, 0)
	for range 3 {
		if code := g.deliver(aliceEvent); code != 0 {
			t.Fatalf("tw_on_event returned %d; set_error message %q", code, g.host.lastError)
		}
	}

	want := emitted{sink: "stdout", data: `{"sub":"alice","iat":1523304728}`}
	if len(g.host.emits) != 3 {
		t.Fatalf("emitted %d times for 3 events, want 3", len(g.host.emits))
	}
	for i, got := range g.host.emits {
		if got != want {
			t.Errorf("emit %d = %+v, want %+v", i, got, want)
		}
	}
}

func TestClaimFilterModuleRejectsConfig(t *testing.T) {
	g := startGuest(t, readModule(t, "claimfilter/claimfilter.wasm"),
		`{"claims":["sub"],"properties":{"sub":"x"}}`, 1)
	want := `claimfilter: invalid config: property "sub" is also listed in "claims"`
	if g.host.lastError != want {
		t.Errorf("set_error message = %q, want %q", g.host.lastError, want)
	}
}

func TestGuestEventReadOutsideEvent(t *testing.T) {
	// tw_on_event with no current event: event_read returns NOT_FOUND and
	// the SDK fails the call with a message naming it.
	g := startGuest(t, examples.AuditModule, "", 0)
	if code := int32(g.call(abi.ExportOnEvent, 10)); code != 1 {
		t.Fatalf("tw_on_event returned %d, want 1", code)
	}
	want := "listener: read event: tokenwire: NOT_FOUND"
	if g.host.lastError != want {
		t.Errorf("set_error message = %q, want %q", g.host.lastError, want)
	}
}
