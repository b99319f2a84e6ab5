package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/tokenwire/tokenwire/runtime/config"
)

// Backoff of a failing listener: after backoffThreshold failures in a row
// the listener is skipped for a delay that starts at backoffBase and doubles
// per further failure up to backoffMax, with up to 20% jitter. After the
// delay one event at a time is let through as a trial: success closes the
// backoff, failure starts a longer delay.
const (
	backoffThreshold = 5
	backoffBase      = 100 * time.Millisecond
	backoffMax       = 30 * time.Second
)

// listener is one configured module with its own wazero runtime, whose
// memory limit is fixed at compile time, and its pool of instances.
type listener struct {
	cfg    config.Listener
	info   *ModuleInfo
	logger *slog.Logger
	env    atomic.Pointer[listenerEnv]
	// refs counts the generations that hold the listener.
	refs     atomic.Int32
	wasm     wazero.Runtime
	compiled wazero.CompiledModule
	// noBackoff disables the backoff, so every event reaches the module.
	noBackoff bool
	// closing is set by close, so calls it cuts short are not reported as
	// guest failures.
	closing atomic.Bool

	pool pool

	mu           sync.Mutex
	failures     int // consecutive
	backoffUntil time.Time
	trialRunning bool
	// failing is failures > 0 or a backoff set, kept under mu and read
	// without it, so events to a healthy listener take no lock.
	failing atomic.Bool

	stats listenerStats
}

// listenerStats are the listener's counters other than events, which
// the pool counts per P.
type listenerStats struct {
	failures  atomic.Int64
	timeouts  atomic.Int64
	skipped   atomic.Int64
	instances atomic.Int64
	lastError atomic.Pointer[string]
}

// dispatch delivers one encoded event to the listener.
func (l *listener) dispatch(ctx context.Context, at *home, eventID string, event []byte) error {
	l.pool.slots[l.pool.slot(at)].events.Add(1)
	trial, skip := l.admit()
	if skip != nil {
		l.stats.skipped.Add(1)
		l.stats.failures.Add(1)
		return skip
	}
	inst, err := l.acquire(ctx, at)
	if err == nil {
		err = inst.handle(ctx, event)
		if err == nil || failKind(err) == FailReturned {
			l.release(ctx, at, inst)
		} else {
			l.discard(ctx, inst)
		}
	}
	l.record(eventID, err, trial)
	return err
}

// admit decides whether an event may reach the listener. While the listener
// backs off it returns a FailBackoff error. Once the delay has passed it
// lets exactly one event at a time through as a trial, and reports which.
func (l *listener) admit() (trial bool, skip error) {
	if !l.failing.Load() {
		return false, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.backoffUntil.IsZero() {
		return false, nil
	}
	if wait := time.Until(l.backoffUntil); wait > 0 {
		return false, &CallError{Kind: FailBackoff, Message: fmt.Sprintf("the listener failed %d times in a row; next attempt in %s", l.failures, wait.Round(time.Millisecond))}
	}
	if l.trialRunning {
		return false, &CallError{Kind: FailBackoff, Message: fmt.Sprintf("the listener failed %d times in a row and a trial event is running", l.failures)}
	}
	l.trialRunning = true
	return true, nil
}

// record updates counters and the backoff state after one event.
func (l *listener) record(eventID string, err error, trial bool) {
	if err == nil && !trial && !l.failing.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if trial {
		l.trialRunning = false
	}
	if err == nil {
		if !l.backoffUntil.IsZero() {
			l.logger.Info("listener recovered", "after_failures", l.failures)
		}
		l.failures = 0
		l.backoffUntil = time.Time{}
		l.failing.Store(false)
		return
	}
	kind := failKind(err)
	if kind == FailCanceled {
		return
	}

	l.stats.failures.Add(1)
	if kind == FailTimeout {
		l.stats.timeouts.Add(1)
	}
	msg := err.Error()
	l.stats.lastError.Store(&msg)
	l.failures++
	l.failing.Store(true)
	l.logger.Error("listener failed on event", "event_id", eventID, "error", err, "consecutive_failures", l.failures)

	if l.failures >= backoffThreshold && !l.noBackoff {
		delay := backoffBase << min(l.failures-backoffThreshold, 16)
		delay = min(delay, backoffMax)
		delay += time.Duration(rand.Int64N(int64(delay)/5 + 1))
		l.backoffUntil = time.Now().Add(delay)
		l.logger.Warn("listener backing off", "delay", delay.Round(time.Millisecond), "consecutive_failures", l.failures)
	}
}

// close runs tw_shutdown on idle instances, waiting for busy ones to come
// back until ctx ends, then closes the wazero runtime.
func (l *listener) close(ctx context.Context) error {
	l.closing.Store(true)
	l.unpark()
	size := cap(l.pool.tokens)
	for returned := 0; returned < size; returned++ {
		select {
		case <-l.pool.tokens:
			continue
		default:
		}
		// Wait only while ctx allows; a random pick between a free token
		// and a done context would skip tw_shutdown for idle instances.
		select {
		case <-l.pool.tokens:
		case <-ctx.Done():
			l.logger.Warn("listener close timed out with instances busy", "busy_instances", size-returned)
			l.shutdownIdle(context.WithoutCancel(ctx))
			return l.wasm.Close(context.WithoutCancel(ctx))
		}
	}
	// tw_shutdown runs even when ctx has ended, because the listener's
	// deadline bounds each call anyway.
	l.shutdownIdle(context.WithoutCancel(ctx))
	return l.wasm.Close(ctx)
}

// shutdownIdle runs tw_shutdown on every idle instance and closes it.
func (l *listener) shutdownIdle(ctx context.Context) {
	for {
		select {
		case inst := <-l.pool.idle:
			inst.closeClean(ctx)
		default:
			return
		}
	}
}
