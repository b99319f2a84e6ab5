// Package examples holds example tokenwire listeners, each a Go main package
// in its own directory with its prebuilt WebAssembly module beside it, and
// embeds the audit module for the tokenwire command.
package examples

import _ "embed"

// AuditModule is examples/audit/audit.wasm, the module the tokenwire command
// runs as its default listener. scripts/build-guests.sh rebuilds it.
//
// The embed lives in this package because a //go:embed pattern cannot
// reach outside the directory of the Go file that declares it.
//
//go:embed audit/audit.wasm
var AuditModule []byte
