package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokenwire/tokenwire/runtime/sink"
)

// Sink queues each published payload in q: Publish returns once the
// payload is on disk. A full queue is sink.ErrUnavailable, so emit returns
// UNAVAILABLE at once instead of waiting for the sink.
type Sink struct {
	q         *Queue
	transform func([]byte) ([]byte, error)
}

// NewSink returns a sink.Sink that queues in q. transform, when not nil,
// rewrites each payload before it is queued (redaction); its error is
// sink.ErrInvalidPayload.
func NewSink(q *Queue, transform func([]byte) ([]byte, error)) *Sink {
	return &Sink{q: q, transform: transform}
}

// Publish queues payload durably.
func (s *Sink) Publish(_ context.Context, payload []byte) error {
	if s.transform != nil {
		out, err := s.transform(payload)
		if err != nil {
			return fmt.Errorf("%w: %v", sink.ErrInvalidPayload, err)
		}
		payload = out
	}
	if _, err := s.q.Enqueue(payload); err != nil {
		if errors.Is(err, ErrFull) || errors.Is(err, ErrClosed) {
			return fmt.Errorf("%w: %v", sink.ErrUnavailable, err)
		}
		return err
	}
	return nil
}

// Close does nothing: the queue outlives the sink, and its Deliverer is
// stopped on its own.
func (s *Sink) Close(context.Context) error { return nil }
