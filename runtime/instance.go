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
)

// instance is one module instance of a listener. It is never called
// concurrently: the pool hands it to one dispatch at a time.
type instance struct {
	l        *listener
	mod      api.Module
	onEvent  api.Function
	shutdown api.Function

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

// instanceFrom returns the instance a host function was called for.
func instanceFrom(ctx context.Context) *instance {
	inst, _ := ctx.Value(instanceKey{}).(*instance)
	return inst
}

// newInstance instantiates the listener's module, then calls _initialize
// and tw_init under the listener's deadline.
func (l *listener) newInstance(ctx context.Context) (*instance, error) {
	inst := &instance{l: l}
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

	inst.begin(nil)
	callCtx, cancel := inst.callContext(ctx, l.cfg.StartDeadline)
	defer cancel()
	mod, err := l.wasm.InstantiateModule(callCtx, l.compiled, modConfig)
	if err != nil {
		inst.end()
		return nil, l.callError("instantiate", callCtx, err, inst)
	}
	inst.mod = mod
	inst.onEvent = mod.ExportedFunction(abi.ExportOnEvent)
	inst.shutdown = mod.ExportedFunction(abi.ExportShutdown)

	if start := mod.ExportedFunction(abi.ExportInitialize); start != nil {
		if _, err := start.Call(callCtx); err != nil {
			inst.end()
			inst.close(ctx)
			return nil, l.callError(abi.ExportInitialize, callCtx, err, inst)
		}
	}
	if initFn := mod.ExportedFunction(abi.ExportInit); initFn != nil {
		inst.end()
		inst.begin(nil)
		results, err := initFn.Call(callCtx, uint64(len(l.cfg.ConfigJSON)))
		switch {
		case err != nil:
			err = l.callError(abi.ExportInit, callCtx, err, inst)
		case mod.IsClosed():
			// The deadline fired as tw_init returned.
			err = l.callError(abi.ExportInit, callCtx, errors.New("module closed"), inst)
		case int32(results[0]) != 0:
			err = &CallError{Kind: FailReturned, Func: abi.ExportInit, Code: int32(results[0]), Message: inst.failureMessage()}
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

// errListenerDeadline is the cause of a call context that ended at the
// listener's own deadline, as opposed to the caller's.
var errListenerDeadline = errors.New("listener deadline exceeded")

// callContext returns the context for guest calls: it carries the instance
// for host functions and ends at deadline. Starting an instance passes the
// listener's start_deadline, because a Go guest's runtime start alone takes
// milliseconds; every other call passes its deadline.
func (inst *instance) callContext(ctx context.Context, deadline config.Duration) (context.Context, context.CancelFunc) {
	ctx = context.WithValue(ctx, instanceKey{}, inst)
	return context.WithTimeoutCause(ctx, deadline.Std(), errListenerDeadline)
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
	callCtx, cancel := inst.callContext(ctx, inst.l.cfg.Deadline)
	defer cancel()
	results, err := inst.onEvent.Call(callCtx, uint64(len(event)))
	if err != nil {
		return inst.l.callError(abi.ExportOnEvent, callCtx, err, inst)
	}
	if code := int32(results[0]); code != 0 {
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
		callCtx, cancel := inst.callContext(ctx, inst.l.cfg.Deadline)
		if _, err := inst.shutdown.Call(callCtx); err != nil {
			inst.l.logger.Warn("tw_shutdown failed", "error", err)
		}
		cancel()
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

// callError classifies err from calling fn into a CallError.
func (l *listener) callError(fn string, ctx context.Context, err error, inst *instance) error {
	if l.closing.Load() {
		return &CallError{Kind: FailCanceled, Func: fn, Message: "listener closed while the call ran"}
	}
	// A context that ended stopped the call, whatever error wazero reports
	// for it. Only the listener's own deadline is the guest's fault.
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), errListenerDeadline) {
			deadline := l.cfg.Deadline
			if fn != abi.ExportOnEvent && fn != abi.ExportShutdown {
				deadline = l.cfg.StartDeadline
			}
			return &CallError{Kind: FailTimeout, Func: fn, Message: "deadline " + deadline.String() + " exceeded"}
		}
		return &CallError{Kind: FailCanceled, Func: fn, Message: "caller's context ended: " + context.Cause(ctx).Error()}
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
