package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Driver sends payloads to one sink.
//
// Deliver sends msgs, oldest first, and returns nil when every one was
// accepted by the receiver, or a slice of len(msgs) holding nil for each
// accepted one and the error of each other. An error wrapped by Permanent
// is not retried. Deliver must return by the deadline of ctx.
type Driver interface {
	Deliver(ctx context.Context, msgs []Record) []error
	Close() error
}

// ErrNotAttempted is the result of a record the driver did not send, for
// example because an earlier one failed and order matters. It is retried
// without counting an attempt.
var ErrNotAttempted = errors.New("not attempted after an earlier failure")

// permanentError marks a failure that no retry can fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that no retry can fix, such as a receiver's
// rejection of the payload: the record goes to the dead letters at once.
func Permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// AllFailed returns a result slice in which all n messages failed with err.
func AllFailed(err error, n int) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// Policy is the batch size, retry, backoff and circuit-breaker settings of
// a Deliverer.
type Policy struct {
	// Batch is the maximum number of records in one Deliver call. Default 100.
	Batch int
	// Timeout bounds one Deliver call. Default 10s.
	Timeout time.Duration
	// MaxAttempts is the number of failed attempts after which a record
	// goes to the dead letters. Default 20.
	MaxAttempts int
	// MaxAge sends a record that failed and is older than this to the
	// dead letters. Zero: no age limit.
	MaxAge time.Duration
	// BackoffInitial is the wait after the first failed round. Default
	// 100ms. Each further failure doubles it up to BackoffMax, default
	// 30s; the wait is drawn between half and all of that value.
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// BreakerFailures is the number of failed rounds in a row that opens
	// the circuit breaker. Default 5.
	BreakerFailures int
	// BreakerCooldown is how long an open breaker waits before sending
	// one record to probe the sink. Default 30s.
	BreakerCooldown time.Duration
}

func (p *Policy) fill() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if p.Batch <= 0 {
		p.Batch = 100
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 20
	}
	if p.BreakerFailures <= 0 {
		p.BreakerFailures = 5
	}
	def(&p.Timeout, 10*time.Second)
	def(&p.BackoffInitial, 100*time.Millisecond)
	def(&p.BackoffMax, 30*time.Second)
	def(&p.BreakerCooldown, 30*time.Second)
}

// backoff returns the wait after failures failed rounds in a row: the
// exponential step, capped, with the lower half of it drawn at random so
// many tokenwire processes do not retry in step.
func (p *Policy) backoff(failures int) time.Duration {
	d := p.BackoffInitial
	for i := 1; i < failures && d < p.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, p.BackoffMax)
	return d/2 + rand.N(d/2+1)
}

// Breaker states.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

// Deliverer runs the delivery loop of one queue.
type Deliverer struct {
	q      *Queue
	d      Driver
	p      Policy
	logger *slog.Logger
	now    func() time.Time

	stop   chan struct{}
	done   chan struct{}
	ctx    context.Context // ends on Stop, cancelling the round in progress
	cancel context.CancelFunc

	mu      sync.Mutex
	breaker string
}

// Deliver starts delivering q's records through d until Stop.
func Deliver(q *Queue, d Driver, p Policy, logger *slog.Logger) *Deliverer {
	p.fill()
	dl := &Deliverer{q: q, d: d, p: p, logger: logger.With("sink", q.name), now: time.Now,
		stop: make(chan struct{}), done: make(chan struct{}), breaker: BreakerClosed}
	dl.ctx, dl.cancel = context.WithCancel(context.Background())
	go dl.loop()
	return dl
}

// Breaker returns the circuit breaker's state.
func (dl *Deliverer) Breaker() string {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	return dl.breaker
}

func (dl *Deliverer) setBreaker(state string) {
	dl.mu.Lock()
	old := dl.breaker
	dl.breaker = state
	dl.mu.Unlock()
	if old != state {
		dl.logger.Warn("sink circuit breaker changed", "from", old, "to", state)
	}
}

// Stop cancels the round in progress, ends the loop and closes the
// driver. Records of that round stay queued as they were, and are sent
// again on the next start.
func (dl *Deliverer) Stop() error {
	close(dl.stop)
	dl.cancel()
	<-dl.done
	return dl.d.Close()
}

// sleep waits d or until Stop; it reports false on Stop.
func (dl *Deliverer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-dl.stop:
		return false
	}
}

func (dl *Deliverer) loop() {
	defer close(dl.done)
	failures := 0
	for {
		select {
		case <-dl.stop:
			return
		default:
		}
		batch := dl.p.Batch
		if dl.Breaker() == BreakerHalfOpen {
			batch = 1
		}
		recs, err := dl.q.Peek(batch)
		if err != nil {
			dl.logger.Error("read outbox failed", "error", err)
			if !dl.sleep(dl.p.BackoffMax) {
				return
			}
			continue
		}
		if len(recs) == 0 {
			select {
			case <-dl.q.wake:
				continue
			case <-dl.stop:
				return
			}
		}
		if dl.round(recs) {
			failures = 0
			dl.setBreaker(BreakerClosed)
			continue
		}
		failures++
		wait := dl.p.backoff(failures)
		switch {
		case dl.Breaker() == BreakerHalfOpen || failures >= dl.p.BreakerFailures:
			dl.setBreaker(BreakerOpen)
			wait = dl.p.BreakerCooldown
		}
		if !dl.sleep(wait) {
			return
		}
		if dl.Breaker() == BreakerOpen {
			dl.setBreaker(BreakerHalfOpen)
		}
	}
}

// round delivers recs once and settles the outcome. It reports whether the
// sink took the round without a retryable failure.
func (dl *Deliverer) round(recs []Record) bool {
	ctx, cancel := context.WithTimeout(dl.ctx, dl.p.Timeout)
	errs := dl.d.Deliver(ctx, recs)
	cancel()
	if dl.ctx.Err() != nil {
		// Stopping: failures caused by the cancellation count no
		// attempt; only what the receiver took is settled.
		var s Settlement
		for i, r := range recs {
			if errs == nil || errs[i] == nil {
				s.Delivered = append(s.Delivered, r.Seq)
			}
		}
		if err := dl.q.Settle(s); err != nil {
			dl.logger.Warn("settle delivered records while stopping failed: they stay queued and may be sent again", "records", len(s.Delivered), "error", err)
		}
		return false
	}
	if errs != nil && len(errs) != len(recs) {
		errs = AllFailed(fmt.Errorf("driver returned %d results for %d records", len(errs), len(recs)), len(recs))
	}
	var s Settlement
	ok := true
	var lastErr error
	now := dl.now()
	for i, r := range recs {
		var err error
		if errs != nil {
			err = errs[i]
		}
		switch {
		case err == nil:
			s.Delivered = append(s.Delivered, r.Seq)
		case IsPermanent(err):
			r.Attempts++
			r.Reason = "rejected: " + err.Error()
			s.Dead = append(s.Dead, r)
			dl.logger.Error("payload rejected by sink: moved to dead letters", "seq", r.Seq, "error", err)
		case errors.Is(err, ErrNotAttempted):
			ok = false
		default:
			ok = false
			lastErr = err
			r.Attempts++
			switch {
			case r.Attempts >= dl.p.MaxAttempts:
				r.Reason = fmt.Sprintf("%d %s failed, last: %v", r.Attempts, plural(r.Attempts, "attempt", "attempts"), err)
				s.Dead = append(s.Dead, r)
			case dl.p.MaxAge > 0 && now.Sub(r.Enqueued) > dl.p.MaxAge:
				r.Reason = fmt.Sprintf("older than %s after %d attempts, last: %v", dl.p.MaxAge, r.Attempts, err)
				s.Dead = append(s.Dead, r)
			default:
				s.Retried = append(s.Retried, r)
				continue
			}
			dl.logger.Error("delivery given up: moved to dead letters", "seq", r.Seq, "reason", r.Reason)
		}
	}
	if !ok && len(s.Retried) > 0 {
		dl.logger.Warn("delivery failed: will retry", "records", len(recs), "retrying", len(s.Retried), "error", lastErr)
	}
	if err := dl.q.Settle(s); err != nil {
		dl.logger.Error("settle delivery round failed: records stay queued and may be sent again", "records", len(recs), "error", err)
		return false
	}
	return ok
}

// plural returns one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
