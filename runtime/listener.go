package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/sink"
)

// Backoff of a failing listener: after backoffThreshold failures in a row
// the listener is skipped for a delay that starts at backoffBase and doubles
// per further failure up to backoffMax, with up to 20% jitter. The first
// event after the delay is a trial: success closes the backoff.
const (
	backoffThreshold = 5
	backoffBase      = 100 * time.Millisecond
	backoffMax       = 30 * time.Second
)

// listener is one configured module with its own wazero runtime, whose
// memory limit is fixed at compile time, and its pool of instances.
type listener struct {
	cfg      config.Listener
	info     *ModuleInfo
	logger   *slog.Logger
	signer   Signer
	sinks    map[string]sink.Sink // every known sink; nil when not granted
	wasm     wazero.Runtime
	compiled wazero.CompiledModule
	// noBackoff disables the backoff, so every event reaches the module.
	noBackoff bool
	// closing is set by close, so calls it cuts short are not reported as
	// guest failures.
	closing atomic.Bool

	// tokens holds one token per instance that may exist; idle holds
	// instances ready for an event.
	tokens chan struct{}
	idle   chan *instance

	mu           sync.Mutex
	failures     int // consecutive
	backoffUntil time.Time

	stats listenerStats
}

type listenerStats struct {
	events    atomic.Int64
	failures  atomic.Int64
	timeouts  atomic.Int64
	skipped   atomic.Int64
	instances atomic.Int64
	lastError atomic.Pointer[string]
}

// acquire returns an idle instance or creates one, waiting while the pool
// is at its size.
func (l *listener) acquire(ctx context.Context) (*instance, error) {
	select {
	case <-l.tokens:
	case <-ctx.Done():
		return nil, &CallError{Kind: FailCanceled, Func: "acquire", Message: ctx.Err().Error()}
	}
	select {
	case inst := <-l.idle:
		return inst, nil
	default:
	}
	inst, err := l.newInstance(ctx)
	if err != nil {
		l.tokens <- struct{}{}
		return nil, err
	}
	l.stats.instances.Add(1)
	return inst, nil
}

// release returns a healthy instance to the pool.
func (l *listener) release(inst *instance) {
	l.idle <- inst
	l.tokens <- struct{}{}
}

// discard closes an instance that failed; it is never reused.
func (l *listener) discard(ctx context.Context, inst *instance) {
	inst.close(ctx)
	l.stats.instances.Add(-1)
	l.tokens <- struct{}{}
}

// dispatch delivers one encoded event to the listener.
func (l *listener) dispatch(ctx context.Context, eventID string, event []byte) error {
	l.stats.events.Add(1)
	if wait := l.backoffRemaining(); wait > 0 {
		l.stats.skipped.Add(1)
		l.stats.failures.Add(1)
		return &CallError{Kind: FailBackoff, Func: "tw_on_event", Message: fmt.Sprintf("listener failed %d times in a row; next attempt in %s", backoffThreshold, wait.Round(time.Millisecond))}
	}
	inst, err := l.acquire(ctx)
	if err == nil {
		err = inst.handle(ctx, event)
		var callErr *CallError
		if err == nil || errors.As(err, &callErr) && callErr.Kind == FailReturned {
			l.release(inst)
		} else {
			l.discard(ctx, inst)
		}
	}
	l.record(eventID, err)
	return err
}

// record updates counters and the backoff state after one event.
func (l *listener) record(eventID string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		if !l.backoffUntil.IsZero() {
			l.logger.Info("listener recovered", "after_failures", l.failures)
		}
		l.failures = 0
		l.backoffUntil = time.Time{}
		return
	}
	var callErr *CallError
	if errors.As(err, &callErr) && callErr.Kind == FailCanceled {
		return
	}
	l.stats.failures.Add(1)
	if errors.As(err, &callErr) && callErr.Kind == FailTimeout {
		l.stats.timeouts.Add(1)
	}
	msg := err.Error()
	l.stats.lastError.Store(&msg)
	l.failures++
	l.logger.Error("listener failed on event", "event_id", eventID, "error", err, "consecutive_failures", l.failures)
	if l.failures >= backoffThreshold && !l.noBackoff {
		delay := backoffBase << min(l.failures-backoffThreshold, 16)
		delay = min(delay, backoffMax)
		delay += time.Duration(rand.Int64N(int64(delay)/5 + 1))
		l.backoffUntil = time.Now().Add(delay)
		l.logger.Warn("listener backing off", "delay", delay.Round(time.Millisecond), "consecutive_failures", l.failures)
	}
}

// backoffRemaining returns how long the listener is still backing off.
func (l *listener) backoffRemaining() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.backoffUntil.IsZero() {
		return 0
	}
	return time.Until(l.backoffUntil)
}

// close runs tw_shutdown on idle instances, waiting for busy ones to come
// back until ctx ends, then closes the wazero runtime.
func (l *listener) close(ctx context.Context) error {
	l.closing.Store(true)
	size := cap(l.tokens)
	for taken := 0; taken < size; taken++ {
		select {
		case <-l.tokens:
			continue
		default:
		}
		// Wait only while ctx allows; a random pick between a free token
		// and a done context would skip tw_shutdown for idle instances.
		select {
		case <-l.tokens:
		case <-ctx.Done():
			l.logger.Warn("listener close timed out with calls in flight", "in_flight", size-taken)
			l.shutdownIdle(context.Background())
			return l.wasm.Close(context.Background())
		}
	}
	l.shutdownIdle(ctx)
	return l.wasm.Close(ctx)
}

// shutdownIdle runs tw_shutdown on every idle instance and closes it.
func (l *listener) shutdownIdle(ctx context.Context) {
	for {
		select {
		case inst := <-l.idle:
			inst.closeClean(ctx)
		default:
			return
		}
	}
}
