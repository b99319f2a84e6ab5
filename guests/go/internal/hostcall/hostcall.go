// Package hostcall connects the listener package to a fake host in native
// (non-wasip1) builds, where no WebAssembly host exists.
//
// The listener package registers its export functions here from an init
// function and routes every host call to the installed Host. Package
// listenertest installs a Host and calls the exports. WebAssembly builds do
// not use this package.
package hostcall

// Host is the set of host functions of ABI version 1, with Go slices and
// strings in place of pointer and length pairs. Each method returns what the
// host function returns: a non-negative value on success, an abi.Status
// otherwise.
type Host interface {
	EventRead(buf []byte) int32
	ConfigRead(buf []byte) int32
	Log(level int32, msg string) int32
	SetError(msg string) int32
	Sign(claims []byte) int32
	ResultRead(buf []byte) int32
	Emit(sink string, data []byte) int32
}

// Exports holds the functions behind the module exports tw_on_event, tw_init
// and tw_shutdown.
type Exports struct {
	OnEvent    func(eventLen int32) int32
	OnInit     func(configLen int32) int32
	OnShutdown func()
}

var (
	current Host
	exports Exports
)

// Install makes h the host that receives every host call. A nil h removes
// the installed host.
func Install(h Host) { current = h }

// Current returns the installed host, or nil when none is installed.
func Current() Host { return current }

// SetExports records the export functions of the listener package.
func SetExports(e Exports) { exports = e }

// RegisteredExports returns the functions recorded by SetExports.
func RegisteredExports() Exports { return exports }
