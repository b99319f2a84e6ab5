package extism_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"unsafe"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero/api"
)

// Status codes of the tokenwire ABI (abi/SPEC.md) that these host
// functions return.
const (
	statusInvalidMemory   int32 = -1
	statusInvalidArgument int32 = -2
	statusNotFound        int32 = -4
	statusInternal        int32 = -8
)

// listenerModuleName is the name under which the manifest links the
// listener, the import module of claimfilter_adapter.wat.
const listenerModuleName = "listener"

// claimfilterConfig is the config the runtime's BenchmarkCompare gives the
// claimfilter guests: emit the sub and iat claims to the sink "stdout".
var claimfilterConfig = []byte(`{"claims":["sub","iat"],"sink":"stdout"}`)

// listenerHost implements the tokenwire host functions that the
// claimfilter builds import (event_read, config_read, log, set_error and
// emit) for one plugin instance, as Extism host functions in the
// namespace "tokenwire".
//
// Extism's Go SDK v1.7.1 gives a host function only the memory of its
// kernel (CurrentPlugin.Memory), while the tokenwire ABI passes pointers
// into the listener's own memory. So the host functions use memory,
// which listenerMemory finds once the plugin exists.
type listenerHost struct {
	// memory is the listener module's linear memory.
	memory api.Memory
	config []byte
	sink   string
	// onEvent is true while the plugin runs "on_event", the only time
	// event_read finds an event.
	onEvent bool
	// publish receives each payload emitted to sink. The slice aliases
	// guest memory and is valid only until publish returns.
	publish func(payload []byte)
	// errorMessage is the message of the last set_error call.
	errorMessage []byte
}

// functions returns the host functions bound to h.
func (h *listenerHost) functions() []extism.HostFunction {
	type body func(ctx context.Context, p *extism.CurrentPlugin, args []uint64) int32
	bodies := []struct {
		name   string
		params int
		fn     body
	}{
		{"event_read", 2, h.eventRead},
		{"config_read", 2, h.configRead},
		{"log", 3, h.log},
		{"set_error", 2, h.setError},
		{"emit", 4, h.emit},
	}
	functions := make([]extism.HostFunction, 0, len(bodies))
	for _, b := range bodies {
		params := make([]extism.ValueType, b.params)
		for i := range params {
			params[i] = extism.ValueTypeI32
		}
		f := extism.NewHostFunctionWithStack(b.name, func(ctx context.Context, p *extism.CurrentPlugin, stack []uint64) {
			stack[0] = extism.EncodeI32(b.fn(ctx, p, stack))
		}, params, []extism.ValueType{extism.ValueTypeI32})
		f.SetNamespace("tokenwire")
		functions = append(functions, f)
	}
	return functions
}

// guestBytes returns the region [ptr, ptr+length) of the listener's memory,
// aliased, or false when it does not lie wholly inside.
func (h *listenerHost) guestBytes(ptr, length uint64) ([]byte, bool) {
	if h.memory == nil {
		return nil, false
	}
	return h.memory.Read(extism.DecodeU32(ptr), extism.DecodeU32(length))
}

// eventRead implements event_read(buf_ptr, buf_len) -> total, copying from
// the input of the current Extism call. Statuses: INVALID_MEMORY,
// NOT_FOUND outside "on_event", INTERNAL when the input cannot be read.
func (h *listenerHost) eventRead(ctx context.Context, p *extism.CurrentPlugin, args []uint64) int32 {
	buf, ok := h.guestBytes(args[0], args[1])
	if !ok {
		return statusInvalidMemory
	}
	if !h.onEvent {
		return statusNotFound
	}
	offset, ok := ctx.Value(extism.InputOffsetKey("inputOffset")).(uint64)
	if !ok {
		return statusInternal
	}
	length, err := p.LengthWithContext(ctx, offset)
	if err != nil {
		return statusInternal
	}
	event, ok := p.Memory().Read(uint32(offset), uint32(length))
	if !ok {
		return statusInternal
	}
	copy(buf, event)
	return int32(len(event))
}

// configRead implements config_read(buf_ptr, buf_len) -> total.
// Statuses: INVALID_MEMORY.
func (h *listenerHost) configRead(_ context.Context, _ *extism.CurrentPlugin, args []uint64) int32 {
	buf, ok := h.guestBytes(args[0], args[1])
	if !ok {
		return statusInvalidMemory
	}
	copy(buf, h.config)
	return int32(len(h.config))
}

// log implements log(level, msg_ptr, msg_len) -> 0 and drops the message,
// as the runtime benchmarks' discarding logger does. Statuses:
// INVALID_MEMORY, INVALID_ARGUMENT for a level outside 0-3.
func (h *listenerHost) log(_ context.Context, _ *extism.CurrentPlugin, args []uint64) int32 {
	if _, ok := h.guestBytes(args[1], args[2]); !ok {
		return statusInvalidMemory
	}
	if level := extism.DecodeI32(args[0]); level < 0 || level > 3 {
		return statusInvalidArgument
	}
	return 0
}

// setError implements set_error(msg_ptr, msg_len) -> 0.
// Statuses: INVALID_MEMORY.
func (h *listenerHost) setError(_ context.Context, _ *extism.CurrentPlugin, args []uint64) int32 {
	msg, ok := h.guestBytes(args[0], args[1])
	if !ok {
		return statusInvalidMemory
	}
	h.errorMessage = append(h.errorMessage[:0], msg...)
	return 0
}

// emit implements emit(sink_ptr, sink_len, data_ptr, data_len) -> 0 and
// hands the payload to publish. Statuses: INVALID_MEMORY, NOT_FOUND for a
// sink other than h.sink.
func (h *listenerHost) emit(_ context.Context, _ *extism.CurrentPlugin, args []uint64) int32 {
	name, ok := h.guestBytes(args[0], args[1])
	if !ok {
		return statusInvalidMemory
	}
	data, ok := h.guestBytes(args[2], args[3])
	if !ok {
		return statusInvalidMemory
	}
	if string(name) != h.sink {
		return statusNotFound
	}
	h.publish(data)
	return 0
}

// listenerPlugin is a tokenwire listener module running in an Extism
// plugin behind testdata/claimfilter_adapter.wasm.
type listenerPlugin struct {
	plugin *extism.Plugin
	host   *listenerHost
}

// newListenerPlugin loads the listener module at path into a plugin with
// Extism's timeout timeoutMS (0 for none) and runs the listener's
// _initialize and tw_init with config once. A module without a name
// section gets one from withExportNames. Payloads emitted to sink go to
// publish. The caller closes the plugin.
func newListenerPlugin(ctx context.Context, path string, timeoutMS uint64, config []byte, sink string, publish func([]byte)) (*listenerPlugin, error) {
	module, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if module, err = withExportNames(module); err != nil {
		return nil, fmt.Errorf("listener %s: %w", path, err)
	}

	host := &listenerHost{config: config, sink: sink, publish: publish}
	manifest := extism.Manifest{
		Wasm: []extism.Wasm{
			extism.WasmData{Data: module, Name: listenerModuleName},
			extism.WasmFile{Path: filepath.Join("testdata", "claimfilter_adapter.wasm"), Name: "main"},
		},
		Timeout: timeoutMS,
	}
	// WASI is on because the Go build imports it, and because Extism calls
	// a module's _initialize only when WASI is on.
	plugin, err := extism.NewPlugin(ctx, manifest, extism.PluginConfig{EnableWasi: true}, host.functions())
	if err != nil {
		return nil, fmt.Errorf("load listener %s into an Extism plugin: %w", path, err)
	}

	lp := &listenerPlugin{plugin: plugin, host: host}
	if host.memory, err = listenerMemory(plugin, listenerModuleName); err != nil {
		_ = plugin.Close(ctx)
		return nil, err
	}
	if code, _, err := plugin.CallWithContext(ctx, "init", config); err != nil || code != 0 {
		_ = plugin.Close(ctx)
		return nil, lp.callError("tw_init", code, err)
	}
	return lp, nil
}

// onEvent runs tw_on_event for event.
func (lp *listenerPlugin) onEvent(ctx context.Context, event []byte) error {
	lp.host.errorMessage = lp.host.errorMessage[:0]
	lp.host.onEvent = true
	code, _, err := lp.plugin.CallWithContext(ctx, "on_event", event)
	lp.host.onEvent = false
	if err != nil || code != 0 {
		return lp.callError("tw_on_event", code, err)
	}
	return nil
}

// callError describes a failed call of export, with the listener's
// set_error message when it left one.
func (lp *listenerPlugin) callError(export string, code uint32, err error) error {
	if err != nil {
		return fmt.Errorf("%s failed (return code %d, set_error message %q): %w", export, int32(code), lp.host.errorMessage, err)
	}
	return fmt.Errorf("%s returned %d, set_error message %q", export, int32(code), lp.host.errorMessage)
}

// Close closes the plugin.
func (lp *listenerPlugin) Close(ctx context.Context) error {
	return lp.plugin.Close(ctx)
}

// listenerMemory returns the memory of the module that plugin links under
// name.
//
// NOTE: Extism's Go SDK v1.7.1 keeps a plugin's linked modules in the
// unexported field Plugin.modules and has no API that returns them, so
// this reads that field. Another SDK version may rename or retype it, and
// then this returns an error.
func listenerMemory(plugin *extism.Plugin, name string) (api.Memory, error) {
	field := reflect.ValueOf(plugin).Elem().FieldByName("modules")
	if !field.IsValid() || field.Type() != reflect.TypeFor[map[string]api.Module]() {
		return nil, errors.New("extism.Plugin has no field modules of type map[string]api.Module: " +
			"this Extism SDK version keeps linked modules elsewhere, so update listenerMemory for it")
	}
	modules := *(*map[string]api.Module)(unsafe.Pointer(field.UnsafeAddr()))
	mod, ok := modules[name]
	if !ok || mod.Memory() == nil {
		return nil, fmt.Errorf("plugin has no linked module %q with a memory", name)
	}
	return mod.Memory(), nil
}
