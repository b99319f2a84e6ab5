package runtime

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/internal/wasmbin"
)

// instance is one module instance of a listener. It is never called
// concurrently: the pool hands it to one dispatch at a time.
type instance struct {
	l        *listener
	mod      api.Module
	onEvent  api.Function
	shutdown api.Function
	// ctx carries the instance to host functions; every call uses it, so
	// a call builds no context.
	ctx context.Context
	// stack holds tw_on_event's parameter and result.
	stack [1]uint64
	// budget is the instruction budget and deadline of the current call.
	budget callBudget

	// State of the current call, reset by begin.
	event    []byte // nil outside tw_on_event
	result   []byte
	errorMsg string
	signs    int
	emits    int
	logLines int
	dropped  int // log lines dropped over budget in this call
	// outputBytes counts bytes written to stdout and stderr in this call.
	outputBytes int

	stdout, stderr guestOutput
}

type instanceKey struct{}

// instanceContext is the context of every call of an instance. wazero
// hands it to host functions, which find their instance with one type
// assertion rather than a Value lookup. The embedded context also holds
// the instance under instanceKey, for a context wazero derives from it.
type instanceContext struct {
	context.Context
	inst *instance
}

// instanceFrom returns the instance a host function was called for.
func instanceFrom(ctx context.Context) *instance {
	if c, ok := ctx.(*instanceContext); ok {
		return c.inst
	}
	inst, _ := ctx.Value(instanceKey{}).(*instance)
	return inst
}

// newInstance instantiates the listener's module, then calls _initialize
// and tw_init, each under the listener's start budget and start_deadline.
func (l *listener) newInstance(ctx context.Context) (*instance, error) {
	inst := &instance{l: l}
	// Every call of the instance runs in this context. It keeps the values
	// of ctx, such as the recorder of wazero function listeners a fuzzer
	// installs, but not its cancellation: the instance outlives the call
	// that created it, and each call's own ctx is checked at refuels.
	inst.ctx = &instanceContext{
		Context: context.WithValue(context.WithoutCancel(ctx), instanceKey{}, inst),
		inst:    inst,
	}
	inst.budget.closing = &l.closing
	inst.stdout = guestOutput{inst: inst, stream: "stdout"}
	inst.stderr = guestOutput{inst: inst, stream: "stderr"}

	modConfig := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(&inst.stdout).
		WithStderr(&inst.stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)

	// The module's start function, if any, runs here.
	inst.begin(nil)
	start := l.cfg.Budgets.StartInstructions
	inst.budget.start(ctx, "instantiate", start, l.cfg.StartDeadline)
	mod, err := l.wasm.InstantiateModule(inst.ctx, l.compiled, modConfig)
	stop := inst.budget.finish()
	if err != nil {
		inst.end()
		return nil, l.callError("instantiate", err, stop, inst)
	}
	inst.mod = mod
	inst.onEvent = mod.ExportedFunction(abi.ExportOnEvent)
	inst.shutdown = mod.ExportedFunction(abi.ExportShutdown)
	if g, ok := mod.ExportedGlobal(wasmbin.BudgetExport).(api.MutableGlobal); ok {
		inst.budget.global = g
	}

	if initialize := mod.ExportedFunction(abi.ExportInitialize); initialize != nil {
		if err := inst.call(ctx, initialize, abi.ExportInitialize, nil, start, l.cfg.StartDeadline); err != nil {
			inst.end()
			inst.close(ctx)
			return nil, err
		}
	}
	if initFn := mod.ExportedFunction(abi.ExportInit); initFn != nil {
		inst.end()
		inst.begin(nil)
		inst.stack[0] = uint64(len(l.cfg.ConfigJSON))
		err := inst.call(ctx, initFn, abi.ExportInit, inst.stack[:], start, l.cfg.StartDeadline)
		if err == nil && int32(inst.stack[0]) != 0 {
			err = &CallError{Kind: FailReturned, Func: abi.ExportInit, Code: int32(inst.stack[0]), Message: inst.failureMessage()}
		}
		if err != nil {
			inst.end()
			inst.close(ctx)
			return nil, err
		}
	}
	inst.end()
	return inst, nil
}

// call calls fn with stack holding its parameters, leaving its results in
// stack. The call may run budget instructions; the refuel function stops
// it past deadline, when ctx ends or when the listener closes.
func (inst *instance) call(ctx context.Context, fn api.Function, name string, stack []uint64, budget int64, deadline config.Duration) error {
	inst.budget.start(ctx, name, budget, deadline)
	err := fn.CallWithStack(inst.ctx, stack)
	stop := inst.budget.finish()
	if err == nil {
		return nil
	}
	return inst.l.callError(name, err, stop, inst)
}

// begin resets the per-call state; event is nil outside tw_on_event.
func (inst *instance) begin(event []byte) {
	inst.event = event
	inst.result = nil
	inst.errorMsg = ""
	inst.signs, inst.emits, inst.logLines, inst.dropped, inst.outputBytes = 0, 0, 0, 0, 0
}

// end flushes partial output lines and reports dropped log lines.
func (inst *instance) end() {
	inst.stdout.flush()
	inst.stderr.flush()
	if inst.dropped > 0 {
		inst.l.logger.Warn("guest log budget exhausted", "dropped_lines", inst.dropped, "budget", inst.l.cfg.Budgets.LogLines)
	}
	inst.event = nil
	inst.result = nil
}

// handle calls tw_on_event for one encoded event.
func (inst *instance) handle(ctx context.Context, event []byte) error {
	inst.begin(event)
	defer inst.end()
	inst.stack[0] = uint64(len(event))
	if err := inst.call(ctx, inst.onEvent, abi.ExportOnEvent, inst.stack[:], inst.l.cfg.Budgets.Instructions, inst.l.cfg.Deadline); err != nil {
		return err
	}
	if code := int32(inst.stack[0]); code != 0 {
		return &CallError{Kind: FailReturned, Func: abi.ExportOnEvent, Code: code, Message: inst.failureMessage()}
	}
	return nil
}

// failureMessage returns the message the guest gave with set_error.
func (inst *instance) failureMessage() string {
	if inst.errorMsg == "" {
		return "no message (the guest did not call set_error)"
	}
	return inst.errorMsg
}

// closeClean runs tw_shutdown, if exported, and closes the module.
func (inst *instance) closeClean(ctx context.Context) {
	if inst.shutdown != nil {
		inst.begin(nil)
		if err := inst.call(ctx, inst.shutdown, abi.ExportShutdown, nil, inst.l.cfg.Budgets.Instructions, inst.l.cfg.Deadline); err != nil {
			inst.l.logger.Warn("tw_shutdown failed", "error", err)
		}
		inst.end()
	}
	inst.close(ctx)
}

func (inst *instance) close(ctx context.Context) {
	if inst.mod != nil {
		_ = inst.mod.Close(ctx)
	}
}

// FailKind classifies why a call into a listener failed.
type FailKind string

// Failure kinds.
const (
	// FailReturned: the guest returned non-zero.
	FailReturned FailKind = "returned"
	// FailTrap: the guest trapped (unreachable, out-of-bounds access, stack
	// overflow, memory limit).
	FailTrap FailKind = "trap"
	// FailTimeout: the call ran past the listener's deadline.
	FailTimeout FailKind = "timeout"
	// FailExit: the guest called proc_exit.
	FailExit FailKind = "exit"
	// FailCanceled: the caller's context ended the call.
	FailCanceled FailKind = "canceled"
	// FailBackoff: the listener failed repeatedly and is not called until
	// its backoff ends.
	FailBackoff FailKind = "backoff"
)

// CallError is a failed call into a guest.
type CallError struct {
	Kind    FailKind
	Func    string // the export called, such as "tw_on_event"
	Code    int32  // the guest's return value or exit code
	Message string // set_error message, trap text or reason
}

func (e *CallError) Error() string {
	switch e.Kind {
	case FailReturned:
		return fmt.Sprintf("%s failed: returned %d: %s", e.Func, e.Code, e.Message)
	case FailExit:
		return fmt.Sprintf("%s called proc_exit(%d)", e.Func, e.Code)
	case FailTimeout:
		return fmt.Sprintf("%s timed out: %s", e.Func, e.Message)
	case FailBackoff:
		return "skipped: " + e.Message
	default:
		return fmt.Sprintf("%s failed (%s): %s", e.Func, e.Kind, e.Message)
	}
}

// failKind returns the kind of a *CallError in err's chain, or "". It is
// called only with a non-nil err, so the success path allocates nothing
// for errors.As.
func failKind(err error) FailKind {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return ""
}

// callError classifies err from calling fn into a CallError. stop is the
// refuel function's reason for stopping the call, or nil.
func (l *listener) callError(fn string, err error, stop *CallError, inst *instance) error {
	if l.closing.Load() {
		return &CallError{Kind: FailCanceled, Func: fn, Message: "listener closed while the call ran"}
	}
	if stop != nil {
		return stop
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return &CallError{Kind: FailExit, Func: fn, Code: int32(exit.ExitCode()), Message: "proc_exit"}
	}
	msg := err.Error()
	if inst != nil && inst.errorMsg != "" {
		msg = inst.errorMsg + ": " + msg
	}
	return &CallError{Kind: FailTrap, Func: fn, Message: firstLine(msg)}
}

// firstLine cuts wazero's multi-line trap text (message plus stack trace)
// to its first line.
func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
