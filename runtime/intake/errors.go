package intake

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalid is wrapped by every error that rejects an event because its
// content breaks the event contract: bad JSON, a missing or mistyped field,
// an unknown event type, a malformed token or a failed signature check.
var ErrInvalid = errors.New("invalid event")

// ErrTooLarge is wrapped by the error for an event longer than
// Options.MaxEventBytes.
var ErrTooLarge = errors.New("event too large")

// Error describes one rejected event.
type Error struct {
	// Line is the 1-based input line where the event starts. It is 0 for
	// errors from Normalize.
	Line int
	// Field is the top-level event field at fault, for example "type". It
	// is empty when the fault is not in one field.
	Field string
	// Err is the cause. It wraps ErrInvalid or ErrTooLarge, except for
	// errors from the underlying reader and from Options.Random.
	Err error
}

// Error returns the message, prefixed with the line when Line is set.
func (e *Error) Error() string {
	if e.Line > 0 {
		return "line " + strconv.Itoa(e.Line) + ": " + e.Err.Error()
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// invalidEvent returns an error for an event that is invalid as a whole.
func invalidEvent(format string, args ...any) *Error {
	return &Error{Err: fmt.Errorf("%w: %w", ErrInvalid, fmt.Errorf(format, args...))}
}

// invalidField returns an error for one invalid top-level field.
func invalidField(field, format string, args ...any) *Error {
	return &Error{
		Field: field,
		Err:   fmt.Errorf("%w: field %q: %w", ErrInvalid, field, fmt.Errorf(format, args...)),
	}
}

// tooLarge returns an error that wraps ErrTooLarge. format describes the
// size, and the message ends with what to do.
func tooLarge(format string, args ...any) *Error {
	return &Error{Err: fmt.Errorf("%w: %w: send smaller events or raise Options.MaxEventBytes",
		ErrTooLarge, fmt.Errorf(format, args...))}
}
