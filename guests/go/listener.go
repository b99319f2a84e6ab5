package listener

import (
	"encoding/json"

	"github.com/tokenwire/tokenwire/abi"
)

var (
	eventHandler    func(*Event) error
	initHandler     func(config []byte) error
	shutdownHandler func()
)

// HandleEvent registers the function the SDK calls for every event. A
// listener must register one, from an init function, or tw_init fails.
//
// A non-nil error fails the event: the SDK reports err.Error() to the host
// with set_error and returns 1 from tw_on_event. A panic in h fails the event
// the same way, with the message "listener: panic: " and the panic value.
//
// HandleEvent panics if h is nil or a handler is already registered.
func HandleEvent(h func(*Event) error) {
	if h == nil {
		panic("listener: HandleEvent called with a nil handler")
	}
	if eventHandler != nil {
		panic("listener: HandleEvent called twice")
	}
	eventHandler = h
}

// HandleInit registers a function the SDK calls once per module instance,
// from tw_init, before any event. It receives the listener config JSON,
// which is "{}" when the listener has none. The slice must not be modified.
// A non-nil error or a panic stops the listener from starting, and the host
// reports the error message.
//
// HandleInit panics if h is nil or an init handler is already registered.
func HandleInit(h func(config []byte) error) {
	if h == nil {
		panic("listener: HandleInit called with a nil handler")
	}
	if initHandler != nil {
		panic("listener: HandleInit called twice")
	}
	initHandler = h
}

// HandleShutdown registers a function the SDK calls from tw_shutdown, before
// the host discards the instance on a clean stop or swap. The host does not
// call it when an instance traps or is killed.
//
// HandleShutdown panics if h is nil or a shutdown handler is already
// registered.
func HandleShutdown(h func()) {
	if h == nil {
		panic("listener: HandleShutdown called with a nil handler")
	}
	if shutdownHandler != nil {
		panic("listener: HandleShutdown called twice")
	}
	shutdownHandler = h
}

// Config returns the listener config JSON that the SDK read in tw_init, or
// nil before tw_init. The slice is shared and must not be modified.
func Config() []byte { return config }

// Sign passes claims, a JSON object, to the host's sign function and returns
// the compact JWS of the Security Event Token (RFC 8417) that the host signs.
//
// The host sets iss, iat and jti. The claims must contain an "events" object
// whose member names are absolute URIs and whose values are objects, and
// must not contain exp or nonce. The host rejects other claims with
// abi.StatusInvalidArgument. A listener without the signing capability gets
// abi.StatusNotPermitted.
func Sign(claims []byte) (string, error) {
	n := sign(claims)
	if n < 0 {
		return "", abi.Status(n)
	}
	token, err := readHost(resultRead, &resultBuf, n)
	if err != nil {
		return "", err
	}
	return string(token), nil
}

// SignJSON marshals v with encoding/json and signs the result with Sign.
func SignJSON(v any) (string, error) {
	claims, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return Sign(claims)
}

// Emit hands data to the sink named sink. The host copies data before Emit
// returns, so the caller may reuse the slice. An unknown sink is
// abi.StatusNotFound and a sink the listener was not granted is
// abi.StatusNotPermitted.
func Emit(sink string, data []byte) error {
	if status := emit(sink, data); status < 0 {
		return abi.Status(status)
	}
	return nil
}
