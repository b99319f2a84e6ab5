package listener

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/tokenwire/tokenwire/abi"
)

// The module instance runs one export call at a time, so this state needs no
// locking. The buffers are kept between calls so that steady-state events
// allocate little.
var (
	config    []byte
	eventBuf  []byte
	resultBuf []byte
	current   Event
)

var errNoEventHandler = errors.New("listener: no event handler registered: " +
	"call listener.HandleEvent from an init function, because the host never runs main")

// onInit implements tw_init: it reads the config, checks that an event
// handler is registered and runs the init handler. It returns 0 on success
// and 1 on failure.
func onInit(configLen int32) (code int32) {
	defer recoverFailure("init handler", &code)

	var buf []byte
	data, err := readHost(configRead, &buf, configLen)
	if err != nil {
		return fail(fmt.Errorf("listener: read config: %w", err))
	}
	config = data

	if eventHandler == nil {
		return fail(errNoEventHandler)
	}
	if initHandler != nil {
		if err := initHandler(config); err != nil {
			return fail(err)
		}
	}
	return 0
}

// onEvent implements tw_on_event: it reads and decodes the event and runs
// the event handler. It returns 0 on success and 1 on failure.
func onEvent(eventLen int32) (code int32) {
	defer recoverFailure("event handler", &code)

	if eventHandler == nil {
		return fail(errNoEventHandler)
	}
	data, err := readHost(eventRead, &eventBuf, eventLen)
	if err != nil {
		return fail(fmt.Errorf("listener: read event: %w", err))
	}
	if err := current.decode(data); err != nil {
		return fail(err)
	}
	if err := eventHandler(&current); err != nil {
		return fail(err)
	}
	return 0
}

// onShutdown implements tw_shutdown. tw_shutdown has no result, so a panic
// in the shutdown handler is logged at LevelError.
func onShutdown() {
	if shutdownHandler == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			Log(LevelError, fmt.Sprintf("listener: panic in shutdown handler: %v\n%s", r, debug.Stack()))
		}
	}()
	shutdownHandler()
}

// recoverFailure turns a panic in the deferring export into a failure: it
// logs the stack at LevelError, reports the panic value with set_error and
// sets *code to 1. The export must defer it directly, because recover stops
// a panic only when a deferred function calls it.
func recoverFailure(where string, code *int32) {
	r := recover()
	if r == nil {
		return
	}
	Log(LevelError, fmt.Sprintf("listener: panic in %s: %v\n%s", where, r, debug.Stack()))
	*code = fail(fmt.Errorf("listener: panic: %v", r))
}

// fail reports err to the host with set_error and returns the failure code.
func fail(err error) int32 {
	reportError(err.Error())
	return 1
}

// reportError calls set_error with msg, truncating msg when the host
// rejects it as too large.
func reportError(msg string) { setErrorTruncating(setError, msg) }

// setErrorTruncating calls set with msg and, while set returns
// abi.StatusTooLarge, with the first half of the previous message, so a long
// message reaches the host truncated instead of not at all.
func setErrorTruncating(set func(msg string) int32, msg string) {
	for abi.Status(set(msg)) == abi.StatusTooLarge && msg != "" {
		// ToValidUTF8 drops the bytes of a rune cut in half.
		msg = strings.ToValidUTF8(msg[:len(msg)/2], "")
	}
}

// readHost reads a host value with read, which is event_read, config_read
// or result_read. It reuses *buf, grows it to sizeHint first and to the
// total the host reports when that is larger, and returns the filled part of
// *buf.
func readHost(read func(buf []byte) int32, buf *[]byte, sizeHint int32) ([]byte, error) {
	if sizeHint > 0 && cap(*buf) < int(sizeHint) {
		*buf = make([]byte, sizeHint)
	}
	b := (*buf)[:cap(*buf)]
	total := read(b)
	if total < 0 {
		return nil, abi.Status(total)
	}
	if int(total) > len(b) {
		*buf = make([]byte, total)
		b = *buf
		again := read(b)
		if again < 0 {
			return nil, abi.Status(again)
		}
		if again != total {
			return nil, fmt.Errorf("listener: host value changed size between reads: %d then %d bytes", total, again)
		}
	}
	return b[:total], nil
}
