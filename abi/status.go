package abi

import "fmt"

// Status is the negative result a host function returns on failure.
type Status int32

// Status codes of ABI version 1.
const (
	// StatusOK is success. Host functions that return a length return that
	// length instead, which is never negative.
	StatusOK Status = 0
	// StatusInvalidMemory means a pointer and length pair does not lie
	// wholly inside guest memory. It is checked before anything else.
	StatusInvalidMemory Status = -1
	// StatusInvalidArgument means malformed JSON, claims that break the SET
	// rules or an unknown log level.
	StatusInvalidArgument Status = -2
	// StatusNotPermitted means the listener was not granted the capability:
	// signing, or the named sink.
	StatusNotPermitted Status = -3
	// StatusNotFound means an unknown sink, no current event or no current
	// result.
	StatusNotFound Status = -4
	// StatusTooLarge means an argument exceeds a configured size limit.
	StatusTooLarge Status = -5
	// StatusLimitExceeded means a per-event budget of signs, emits or log
	// lines is used up. It does not by itself fail the event.
	StatusLimitExceeded Status = -6
	// StatusUnavailable is a retryable host-side failure, such as a full
	// sink queue or an unavailable signer.
	StatusUnavailable Status = -7
	// StatusInternal is any other host failure.
	StatusInternal Status = -8
)

var statusNames = map[Status]string{
	StatusOK:              "OK",
	StatusInvalidMemory:   "INVALID_MEMORY",
	StatusInvalidArgument: "INVALID_ARGUMENT",
	StatusNotPermitted:    "NOT_PERMITTED",
	StatusNotFound:        "NOT_FOUND",
	StatusTooLarge:        "TOO_LARGE",
	StatusLimitExceeded:   "LIMIT_EXCEEDED",
	StatusUnavailable:     "UNAVAILABLE",
	StatusInternal:        "INTERNAL",
}

// String returns the status name as the specification spells it, for
// example "NOT_PERMITTED".
func (s Status) String() string {
	if name, ok := statusNames[s]; ok {
		return name
	}
	return fmt.Sprintf("status(%d)", int32(s))
}

// Error makes a Status usable as an error value, so guest SDKs can return
// it directly and callers can compare with errors.Is.
func (s Status) Error() string {
	return "tokenwire: " + s.String()
}

// Statuses lists every failure status in order from -1 down.
var Statuses = []Status{
	StatusInvalidMemory,
	StatusInvalidArgument,
	StatusNotPermitted,
	StatusNotFound,
	StatusTooLarge,
	StatusLimitExceeded,
	StatusUnavailable,
	StatusInternal,
}
