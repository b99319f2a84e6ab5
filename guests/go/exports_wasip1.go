//go:build wasip1

package listener

// Module exports of ABI version 1. The linker also exports "memory" and, for
// -buildmode=c-shared, "_initialize", which runs package initialization.

//go:wasmexport tokenwire_abi_v1
func abiVersionMarker() {}

//go:wasmexport tw_init
func twInit(configLen int32) int32 { return onInit(configLen) }

//go:wasmexport tw_on_event
func twOnEvent(eventLen int32) int32 { return onEvent(eventLen) }

//go:wasmexport tw_shutdown
func twShutdown() { onShutdown() }
