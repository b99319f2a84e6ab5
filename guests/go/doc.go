// Package listener is the Go SDK for tokenwire listener modules: WebAssembly
// modules that the tokenwire host calls once for every OAuth 2.0 or OpenID
// Connect token it issues.
//
// A listener is a main package built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o listener.wasm .
//
// This package defines the module exports of ABI version 1 (tw_on_event,
// tw_init, tw_shutdown and the tokenwire_abi_v1 marker). A listener registers
// its handlers from an init function:
//
//	func init() {
//		listener.HandleEvent(func(e *listener.Event) error {
//			listener.Info("token issued to " + e.ClientID)
//			return nil
//		})
//	}
//
//	func main() {}
//
// Registration must happen in init, because the host starts the module with
// _initialize, which runs package initialization but never main.main. The
// compiler still requires package main to declare func main.
//
// Host functions report failure as an abi.Status, which implements error,
// so callers can compare with errors.Is(err, abi.StatusNotPermitted).
//
// In native builds (any GOOS other than wasip1) every host call goes to the
// fake host of package listenertest, so listeners test with plain go test.
package listener
