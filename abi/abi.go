// Package abi defines version 1 of the contract between the tokenwire host
// and a listener module: export and import names, status codes and the event
// a listener receives. SPEC.md in this directory is the full specification.
//
// The package imports no WebAssembly engine, so guest SDKs written in Go can
// share it with the host.
package abi

// Version is the ABI version this package describes.
const Version = 1

// Names of the functions and memory a listener module exports.
const (
	// ExportMemory is the guest's linear memory. Required.
	ExportMemory = "memory"
	// ExportVersionMarker marks a module as built for ABI version 1. It is
	// a func() the host never calls. Required.
	ExportVersionMarker = "tokenwire_abi_v1"
	// ExportOnEvent is func(event_len i32) -> i32, called once per event.
	// Zero means success. Required.
	ExportOnEvent = "tw_on_event"
	// ExportInit is func(config_len i32) -> i32, called once per instance
	// before any event. Non-zero fails the instance. Optional.
	ExportInit = "tw_init"
	// ExportShutdown is func(), called before an instance is discarded on a
	// clean stop or swap. Optional.
	ExportShutdown = "tw_shutdown"
	// ExportInitialize is the WASI reactor start function, func(). When
	// present the host calls it first, once per instance. Optional.
	ExportInitialize = "_initialize"
)

// Import module names a listener may import from. Any other import module
// is rejected at load time.
const (
	// ImportModule is the module that holds the host functions below.
	ImportModule = "tokenwire"
	// ImportModuleWASI is WASI preview 1, offered with no preopened
	// directories, no environment and no arguments.
	ImportModuleWASI = "wasi_snapshot_preview1"
)

// Host function names in ImportModule. Every parameter is an i32 and every
// function returns one i32: a non-negative value is success, a negative one
// is a Status.
const (
	FuncEventRead  = "event_read"  // (buf_ptr, buf_len) -> total event length
	FuncConfigRead = "config_read" // (buf_ptr, buf_len) -> total config length
	FuncLog        = "log"         // (level, msg_ptr, msg_len) -> 0
	FuncSetError   = "set_error"   // (msg_ptr, msg_len) -> 0
	FuncSign       = "sign"        // (claims_ptr, claims_len) -> SET length
	FuncResultRead = "result_read" // (buf_ptr, buf_len) -> total result length
	FuncEmit       = "emit"        // (sink_ptr, sink_len, data_ptr, data_len) -> 0
)

// HostFunc describes one host function: its name and how many i32
// parameters it takes. Each returns exactly one i32.
type HostFunc struct {
	Name   string
	Params int
}

// HostFuncs lists every host function of ABI version 1 in a fixed order.
var HostFuncs = []HostFunc{
	{FuncEventRead, 2},
	{FuncConfigRead, 2},
	{FuncLog, 3},
	{FuncSetError, 2},
	{FuncSign, 2},
	{FuncResultRead, 2},
	{FuncEmit, 4},
}

// Log levels accepted by the log host function.
const (
	LogDebug int32 = 0
	LogInfo  int32 = 1
	LogWarn  int32 = 2
	LogError int32 = 3
)
