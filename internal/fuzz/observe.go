package fuzz

import (
	"context"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/tokenwire/tokenwire/abi"
)

// The fuzzer watches a listener through wazero's function listeners, which
// are attached when a module is compiled. They watch the host functions
// (arguments and statuses) and the ABI exports (memory size after each
// call). With coverage on, they also watch every function the guest
// defines. Compiled modules are cached and shared, listeners included, so
// the listeners keep no state of their own: each call finds its recorder in
// the call's context.

// recorder collects what one guest call did.
type recorder struct {
	// covered marks, by function index, the guest functions entered since
	// the recorder was made. fresh counts those first entered in the
	// current call.
	covered []bool
	fresh   int

	// calls contains the event's emit and sign calls and its first failed
	// call of each kind, at most maxKeptCalls. current is the host call in
	// progress.
	calls     []hostCall
	failures  map[failureKey]bool
	current   hostCall
	memBefore uint32 // bytes of guest memory when tw_on_event began
	memAfter  uint32 // and when it returned
	starts    int    // instances started (_initialize or tw_init ran)
	// signFailed is true while the last sign of this call failed, so a
	// result_read after it reads a result the guest did not get.
	signFailed bool
	staleRead  bool
}

// hostCall is one host function call: its name, status and, for emit, the
// sink and payload, for sign the claims.
type hostCall struct {
	name   string
	status int32
	sink   string
	data   []byte
}

// reset prepares the recorder for the next event; coverage is kept.
func (r *recorder) reset() {
	r.calls = r.calls[:0]
	clear(r.failures)
	r.fresh = 0
	r.memBefore, r.memAfter = 0, 0
	r.signFailed, r.staleRead = false, false
}

type recorderKey struct{}

func withRecorder(ctx context.Context, r *recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

func recorderFrom(ctx context.Context) *recorder {
	r, _ := ctx.Value(recorderKey{}).(*recorder)
	return r
}

// factory attaches listeners to the functions the fuzzer watches, and
// counts the functions the guest defines.
type factory struct {
	coverage  bool
	functions atomic.Int64
}

func (f *factory) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	if def.GoFunction() == nil {
		f.functions.Add(1)
	}
	switch def.ModuleName() {
	case abi.ImportModule:
		return hostListener{}
	case abi.ImportModuleWASI:
		return nil
	}
	for _, name := range def.ExportNames() {
		switch name {
		case abi.ExportOnEvent, abi.ExportInit, abi.ExportInitialize:
			return exportListener{coverage: f.coverage}
		}
	}
	if f.coverage && def.GoFunction() == nil {
		return coverListener{index: def.Index()}
	}
	return nil
}

// coverListener marks its function as covered.
type coverListener struct{ index uint32 }

func (c coverListener) Before(ctx context.Context, _ api.Module, _ api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
	r := recorderFrom(ctx)
	if r == nil {
		return
	}
	if int(c.index) >= len(r.covered) {
		r.covered = append(r.covered, make([]bool, int(c.index)+1-len(r.covered))...)
	}
	if !r.covered[c.index] {
		r.covered[c.index] = true
		r.fresh++
	}
}

func (coverListener) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {}
func (coverListener) Abort(context.Context, api.Module, api.FunctionDefinition, error)    {}

// exportListener records instance starts and memory around tw_on_event,
// and coverage of the export when coverage is on.
type exportListener struct{ coverage bool }

func (x exportListener) Before(ctx context.Context, mod api.Module, def api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
	r := recorderFrom(ctx)
	if r == nil {
		return
	}
	if x.coverage {
		coverListener{index: def.Index()}.Before(ctx, mod, def, nil, nil)
	}
	switch def.ExportNames()[0] {
	case abi.ExportOnEvent:
		r.memBefore = memSize(mod)
	case abi.ExportInitialize:
		r.starts++
	}
}

func (exportListener) After(ctx context.Context, mod api.Module, def api.FunctionDefinition, _ []uint64) {
	if r := recorderFrom(ctx); r != nil && def.ExportNames()[0] == abi.ExportOnEvent {
		r.memAfter = memSize(mod)
	}
}

func (exportListener) Abort(ctx context.Context, mod api.Module, def api.FunctionDefinition, _ error) {
	exportListener{}.After(ctx, mod, def, nil)
}

func memSize(mod api.Module) uint32 {
	if mem := mod.Memory(); mem != nil {
		return mem.Size()
	}
	return 0
}

// hostListener records each host call with its status.
type hostListener struct{}

func (hostListener) Before(ctx context.Context, mod api.Module, def api.FunctionDefinition, params []uint64, _ experimental.StackIterator) {
	r := recorderFrom(ctx)
	if r == nil {
		return
	}
	c := hostCall{name: def.Name()}
	mem := mod.Memory()
	read := func(ptr, n uint64) []byte {
		if mem == nil {
			return nil
		}
		b, _ := mem.Read(api.DecodeU32(ptr), api.DecodeU32(n))
		return append([]byte(nil), b...)
	}
	// Arguments are copied only while the call may still be kept.
	keep := len(r.calls) < maxKeptCalls
	switch c.name {
	case abi.FuncEmit:
		c.sink = string(read(params[0], min(params[1], 256)))
		if keep {
			c.data = read(params[2], params[3])
		}
	case abi.FuncSign:
		if keep {
			c.data = read(params[0], params[1])
		}
	case abi.FuncResultRead:
		if r.signFailed {
			r.staleRead = true
		}
	}
	r.current = c
}

func (hostListener) After(ctx context.Context, _ api.Module, def api.FunctionDefinition, results []uint64) {
	r := recorderFrom(ctx)
	if r == nil {
		return
	}
	c := r.current
	c.status = api.DecodeI32(results[0])
	if c.name == abi.FuncSign {
		r.signFailed = c.status < 0
	}
	r.keep(c)
}

// maxKeptCalls bounds the host calls kept per event: a guest may make
// millions of calls, and only outputs and failures matter.
const maxKeptCalls = 256

// keep stores an emit or sign call, and the first failed call of each
// function, status and sink, up to maxKeptCalls.
func (r *recorder) keep(c hostCall) {
	output := c.name == abi.FuncEmit || c.name == abi.FuncSign
	if (!output && c.status >= 0) || len(r.calls) >= maxKeptCalls {
		return
	}
	if !output {
		key := failureKey{c.name, c.status, c.sink}
		if r.failures[key] {
			return
		}
		if r.failures == nil {
			r.failures = map[failureKey]bool{}
		}
		r.failures[key] = true
	}
	r.calls = append(r.calls, c)
}

type failureKey struct {
	name   string
	status int32
	sink   string
}

func (hostListener) Abort(context.Context, api.Module, api.FunctionDefinition, error) {}
