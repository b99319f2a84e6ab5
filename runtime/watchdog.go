package runtime

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/tokenwire/tokenwire/runtime/config"
)

// watchdogTick is how often the watchdog looks at running calls. A call's
// deadline counts from the first tick that sees it, so a call is stopped
// between its deadline and its deadline plus two ticks.
const watchdogTick = 2 * time.Millisecond

// stopBudget is what the watchdog writes into the budget global of a call
// it stops: far below zero, so the guest's next charge traps.
var stopBudget = int64(-1 << 62)

// deadlines is the one wall-clock backstop of the process. A goroutine
// wakes every watchdogTick while any instance exists and stops each call
// that is past its deadline, whose caller's context ended, or whose
// listener is closing, by writing stopBudget into the call's budget
// global. The guest traps at its next function entry or loop header, so
// the backstop costs guest code nothing per instruction and a call two
// uncontended locks, without reading the clock.
var deadlines = &watchdog{watched: make(map[*instance]struct{})}

type watchdog struct {
	mu      sync.Mutex
	watched map[*instance]struct{}
	running bool
}

// add watches inst's calls until remove.
func (w *watchdog) add(inst *instance) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.watched[inst] = struct{}{}
	if !w.running {
		w.running = true
		go w.run()
	}
}

// remove stops watching inst.
func (w *watchdog) remove(inst *instance) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.watched, inst)
}

// run checks every watched call each tick, and returns once no instance
// is left to watch.
func (w *watchdog) run() {
	ticker := time.NewTicker(watchdogTick)
	defer ticker.Stop()
	for now := range ticker.C {
		w.mu.Lock()
		if len(w.watched) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		for inst := range w.watched {
			inst.watch.check(now)
		}
		w.mu.Unlock()
	}
}

// callWatch is the state of an instance's current call that the watchdog
// reads. mu orders the watchdog's writes to the budget global with the
// host's own, so the host reads the budget only after the last stop.
type callWatch struct {
	budget  api.MutableGlobal // nil when the module is not metered
	closing *atomic.Bool      // the listener's closing flag

	mu      sync.Mutex
	running bool
	ctx     context.Context
	fn      string
	limit   config.Duration
	stop    *CallError
	// call numbers the calls, so the watchdog can tell a new call from
	// one it has seen before without the caller reading the clock.
	call uint64

	// Read and written by the watchdog only.
	seenCall uint64
	seenAt   time.Time
}

// start records a call of fn.
func (w *callWatch) start(ctx context.Context, fn string, limit config.Duration) {
	w.mu.Lock()
	w.running, w.ctx, w.fn, w.limit, w.stop = true, ctx, fn, limit, nil
	w.call++
	w.mu.Unlock()
}

// finish ends the call and returns why the watchdog stopped it, or nil.
func (w *callWatch) finish() *CallError {
	w.mu.Lock()
	stop := w.stop
	w.running, w.ctx, w.stop = false, nil, nil
	w.mu.Unlock()
	return stop
}

// check stops the call when it must end. It writes the budget again on
// each tick once stopped, because a charge that runs at the same moment
// can overwrite the write with its own.
func (w *callWatch) check(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running || w.budget == nil {
		return
	}
	if w.seenCall != w.call {
		w.seenCall, w.seenAt = w.call, now
	}
	if w.stop == nil {
		switch {
		case w.closing.Load():
			w.stop = &CallError{Kind: FailCanceled, Func: w.fn, Message: "listener closed while the call ran"}
		case w.ctx.Err() != nil:
			w.stop = &CallError{Kind: FailCanceled, Func: w.fn, Message: "caller's context ended: " + context.Cause(w.ctx).Error()}
		case now.Sub(w.seenAt) >= w.limit.Std():
			w.stop = &CallError{Kind: FailTimeout, Func: w.fn, Message: "deadline " + w.limit.String() + " exceeded"}
		default:
			return
		}
	}
	w.budget.Set(uint64(stopBudget))
}
