// Package listenertest provides a fake tokenwire host, so that listeners
// written with package listener run and test natively with go test.
//
// A test creates a Host with New, sets its config, runs the listener's
// tw_init with Init, delivers events with Deliver or DeliverJSON and then
// checks the recorded emits, logs and signed claims. Init and DeliverJSON run
// the same SDK code that the module exports tw_init and tw_on_event run in
// WebAssembly.
//
// The SDK keeps its state in package variables, as a module instance does,
// so only one Host may be installed at a time: tests that use a Host must not
// call t.Parallel.
package listenertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tokenwire/tokenwire/abi"
	listener "github.com/tokenwire/tokenwire/guests/go"
	"github.com/tokenwire/tokenwire/guests/go/internal/hostcall"
)

// Host is a fake tokenwire host. Set the configuration fields before calling
// Init. The record fields fill as the listener runs.
type Host struct {
	// Config is the listener config JSON that config_read returns. A nil
	// Config reads as "{}", as on the real host.
	Config []byte
	// Signer replaces the fake signer FakeSign. When it returns an error
	// that is an abi.Status, sign returns that status. Any other error
	// becomes abi.StatusInternal.
	Signer func(claims []byte) (string, error)
	// Emitter, when set, decides the result of every emit: a nil error
	// records the emit, an error is returned to the listener as Signer's
	// errors are. When nil, every emit to a non-empty sink name succeeds.
	Emitter func(sink string, data []byte) error

	// Emits records every successful emit, in order.
	Emits []Emit
	// Logs records every log line the host accepted, in order.
	Logs []LogEntry
	// Signed records the claims of every sign call, in order, including
	// calls the signer rejected.
	Signed [][]byte

	event     []byte // current event JSON, nil outside DeliverJSON
	result    []byte // current sign result, nil when there is none
	lastError string // message of the last set_error call in this export call
	signCount int
}

// Emit is one emit call: the sink name and a copy of the data.
type Emit struct {
	Sink string
	Data []byte
}

// LogEntry is one log line.
type LogEntry struct {
	Level   listener.Level
	Message string
}

// Failure is the error Init and DeliverJSON return when the export returns
// non-zero.
type Failure struct {
	// Export is "tw_init" or "tw_on_event".
	Export string
	// Code is the export's non-zero result.
	Code int32
	// Message is the last message passed to set_error during the call, or
	// empty when the listener set none.
	Message string
}

func (f *Failure) Error() string {
	return fmt.Sprintf("%s returned %d: %s", f.Export, f.Code, f.Message)
}

var (
	installMu sync.Mutex
	installed bool
)

// New installs a new Host for the duration of test t and removes it when t
// ends. It fails t if another Host is installed.
func New(t testing.TB) *Host {
	t.Helper()
	if hostcall.RegisteredExports().OnEvent == nil {
		t.Fatal("listenertest: package listener registered no exports")
	}

	installMu.Lock()
	defer installMu.Unlock()
	if installed {
		t.Fatal("listenertest: another Host is installed; tests that use a Host must not run in parallel")
	}
	installed = true

	h := &Host{}
	hostcall.Install(hostFuncs{h})
	t.Cleanup(func() {
		installMu.Lock()
		defer installMu.Unlock()
		hostcall.Install(nil)
		installed = false
	})
	return h
}

// Init runs the listener's tw_init with h.Config. It returns a *Failure when
// tw_init returns non-zero.
func (h *Host) Init() error {
	h.lastError = ""
	code := hostcall.RegisteredExports().OnInit(int32(len(h.config())))
	if code != 0 {
		return &Failure{Export: abi.ExportInit, Code: code, Message: h.lastError}
	}
	return nil
}

// Deliver marshals ev and delivers it with DeliverJSON.
func (h *Host) Deliver(ev abi.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("listenertest: marshal event %s: %w", ev.ID, err)
	}
	return h.DeliverJSON(data)
}

// DeliverJSON runs the listener's tw_on_event with event as the event JSON,
// which it passes to the listener unchecked. It returns a *Failure when
// tw_on_event returns non-zero.
func (h *Host) DeliverJSON(event []byte) error {
	h.event = event
	h.result = nil
	h.lastError = ""
	defer func() { h.event = nil }()

	code := hostcall.RegisteredExports().OnEvent(int32(len(event)))
	if code != 0 {
		return &Failure{Export: abi.ExportOnEvent, Code: code, Message: h.lastError}
	}
	return nil
}

// Shutdown runs the listener's tw_shutdown.
func (h *Host) Shutdown() {
	hostcall.RegisteredExports().OnShutdown()
}

func (h *Host) config() []byte {
	if h.Config == nil {
		return []byte("{}")
	}
	return h.Config
}

// statusOf converts a hook error to the status a host function returns.
func statusOf(err error) int32 {
	var status abi.Status
	if errors.As(err, &status) && status < 0 {
		return int32(status)
	}
	return int32(abi.StatusInternal)
}

// hostFuncs implements the host functions for the SDK on top of a Host.
type hostFuncs struct{ h *Host }

func (f hostFuncs) EventRead(buf []byte) int32 {
	if f.h.event == nil {
		return int32(abi.StatusNotFound)
	}
	copy(buf, f.h.event)
	return int32(len(f.h.event))
}

func (f hostFuncs) ConfigRead(buf []byte) int32 {
	config := f.h.config()
	copy(buf, config)
	return int32(len(config))
}

func (f hostFuncs) Log(level int32, msg string) int32 {
	if level < abi.LogDebug || level > abi.LogError {
		return int32(abi.StatusInvalidArgument)
	}
	f.h.Logs = append(f.h.Logs, LogEntry{Level: listener.Level(level), Message: msg})
	return 0
}

func (f hostFuncs) SetError(msg string) int32 {
	f.h.lastError = msg
	return 0
}

func (f hostFuncs) Sign(claims []byte) int32 {
	f.h.Signed = append(f.h.Signed, append([]byte(nil), claims...))
	signer := f.h.Signer
	if signer == nil {
		signer = f.h.FakeSign
	}
	token, err := signer(claims)
	if err != nil {
		return statusOf(err)
	}
	f.h.result = []byte(token)
	return int32(len(token))
}

func (f hostFuncs) ResultRead(buf []byte) int32 {
	if f.h.result == nil {
		return int32(abi.StatusNotFound)
	}
	copy(buf, f.h.result)
	return int32(len(f.h.result))
}

func (f hostFuncs) Emit(sink string, data []byte) int32 {
	if f.h.Emitter != nil {
		if err := f.h.Emitter(sink, data); err != nil {
			return statusOf(err)
		}
	} else if sink == "" {
		return int32(abi.StatusNotFound)
	}
	f.h.Emits = append(f.h.Emits, Emit{Sink: sink, Data: append([]byte(nil), data...)})
	return 0
}
