package runtime

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/internal/wasmbin"
)

// refuelSlice is the most the refuel function adds to a guest's budget
// global at once: about 1 ms of a tight guest loop on the machine in
// docs/benchmarks.md. A guest that runs without calling the host returns
// to Go at least this often, which is when its deadline, its caller's
// context and its listener's closing are checked, and when the Go
// scheduler and garbage collector can stop it.
const refuelSlice = 1 << 21

// callBudget is the instruction budget and deadline of an instance's
// current call. Only the goroutine running the call touches it.
type callBudget struct {
	global  api.MutableGlobal // nil until instantiation returns, and when the module is not metered
	closing *atomic.Bool      // the listener's closing flag

	ctx     context.Context
	fn      string
	total   int64 // the call's budget, for messages
	left    int64 // what remains beyond the global
	limit   config.Duration
	started time.Time // the first refuel, zero before it
	stop    *CallError
}

// start prepares a call of fn with budget instructions and the deadline
// limit. Before instantiation, global is nil and the module's start
// function takes its first slice through refuel.
func (b *callBudget) start(ctx context.Context, fn string, budget int64, limit config.Duration) {
	b.ctx, b.fn, b.total, b.limit, b.started, b.stop = ctx, fn, budget, limit, time.Time{}, nil
	b.left = budget
	if b.global != nil {
		first := min(budget, refuelSlice)
		b.global.Set(uint64(first))
		b.left -= first
	}
}

// finish ends the call and returns why refuel stopped it, or nil.
func (b *callBudget) finish() *CallError {
	stop := b.stop
	b.ctx, b.stop = nil, nil
	return stop
}

// refuel is called by the guest's metering code when its budget global
// goes negative. It stops the call by panicking with a *CallError when the
// listener is closing, the caller's context has ended, the deadline has
// passed (counted from the first refuel, so up to one slice late) or the
// budget is spent, and otherwise adds up to refuelSlice to the global.
func (b *callBudget) refuel(mod api.Module) {
	global := b.global
	if global == nil {
		global = mod.ExportedGlobal(wasmbin.BudgetExport).(api.MutableGlobal)
	}
	now := time.Now()
	if b.started.IsZero() {
		b.started = now
	}
	switch {
	case b.closing.Load():
		b.stop = &CallError{Kind: FailCanceled, Func: b.fn, Message: "listener closed while the call ran"}
	case b.ctx != nil && b.ctx.Err() != nil:
		b.stop = &CallError{Kind: FailCanceled, Func: b.fn, Message: "caller's context ended: " + context.Cause(b.ctx).Error()}
	case now.Sub(b.started) >= b.limit.Std():
		b.stop = &CallError{Kind: FailTimeout, Func: b.fn, Message: "deadline " + b.limit.String() + " exceeded"}
	default:
		value, left, ok := wasmbin.Refill(int64(global.Get()), b.left, refuelSlice)
		global.Set(uint64(value))
		b.left = left
		if ok {
			return
		}
		b.stop = &CallError{Kind: FailTimeout, Func: b.fn, Message: fmt.Sprintf("instruction budget of %d exhausted", b.total)}
	}
	panic(b.stop)
}

// chargeBytes charges a host function's work on n bytes of guest memory
// to the call's budget, at the rate the metered bulk memory instructions
// pay. Without it a guest loop around a host call that copies a large
// buffer counts a few instructions per iteration and can run for seconds
// between two refuels, and so between two checks of its deadline. When
// the charge leaves the global negative, it calls refuel, which adds to
// the global or ends the call by panicking with a *CallError.
func (b *callBudget) chargeBytes(mod api.Module, n int) {
	cost := wasmbin.ByteCost(n)
	if b.global == nil || cost == 0 {
		return // an unmetered module, or instantiation before it returned
	}
	left := int64(b.global.Get()) - cost
	b.global.Set(uint64(left))
	if left < 0 {
		b.refuel(mod)
	}
}

// instantiateRefuel registers the host module with the refuel function
// that metered modules import.
func instantiateRefuel(ctx context.Context, rt wazero.Runtime) error {
	refuel := func(ctx context.Context, mod api.Module, _ []uint64) {
		inst := instanceFrom(ctx)
		if inst == nil {
			panic("refuel called outside a tokenwire call")
		}
		inst.budget.refuel(mod)
	}
	_, err := rt.NewHostModuleBuilder(wasmbin.RefuelModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(refuel), nil, nil).
		Export(wasmbin.RefuelName).
		Instantiate(ctx)
	return err
}
