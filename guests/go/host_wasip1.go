//go:build wasip1

package listener

import "unsafe"

// Host functions of ABI version 1, imported from module "tokenwire". Every
// parameter and result is an i32, and a pointer is an address in this
// module's linear memory. Passing pointers to Go memory is safe because Go's
// garbage collector does not move objects. The SDK reuses a buffer as soon
// as a call returns, so the host must copy what it keeps.

//go:wasmimport tokenwire event_read
func twEventRead(bufPtr unsafe.Pointer, bufLen int32) int32

//go:wasmimport tokenwire config_read
func twConfigRead(bufPtr unsafe.Pointer, bufLen int32) int32

//go:wasmimport tokenwire log
func twLog(level int32, msgPtr unsafe.Pointer, msgLen int32) int32

//go:wasmimport tokenwire set_error
func twSetError(msgPtr unsafe.Pointer, msgLen int32) int32

//go:wasmimport tokenwire sign
func twSign(claimsPtr unsafe.Pointer, claimsLen int32) int32

//go:wasmimport tokenwire result_read
func twResultRead(bufPtr unsafe.Pointer, bufLen int32) int32

//go:wasmimport tokenwire emit
func twEmit(sinkPtr unsafe.Pointer, sinkLen int32, dataPtr unsafe.Pointer, dataLen int32) int32

func eventRead(buf []byte) int32 {
	return twEventRead(unsafe.Pointer(unsafe.SliceData(buf)), int32(len(buf)))
}

func configRead(buf []byte) int32 {
	return twConfigRead(unsafe.Pointer(unsafe.SliceData(buf)), int32(len(buf)))
}

func logMessage(level int32, msg string) int32 {
	return twLog(level, unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}

func setError(msg string) int32 {
	return twSetError(unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}

func sign(claims []byte) int32 {
	return twSign(unsafe.Pointer(unsafe.SliceData(claims)), int32(len(claims)))
}

func resultRead(buf []byte) int32 {
	return twResultRead(unsafe.Pointer(unsafe.SliceData(buf)), int32(len(buf)))
}

func emit(sink string, data []byte) int32 {
	return twEmit(
		unsafe.Pointer(unsafe.StringData(sink)), int32(len(sink)),
		unsafe.Pointer(unsafe.SliceData(data)), int32(len(data)),
	)
}
