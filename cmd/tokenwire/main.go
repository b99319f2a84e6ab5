// Command tokenwire receives OAuth 2.0 and OpenID Connect token-issue events
// and dispatches each one into sandboxed WebAssembly listener modules.
//
// Usage:
//
//	tokenwire run     [--config FILE] [--listen ADDR]
//	tokenwire replay  [--config FILE] [--module FILE.wasm ...] [--key FILE] [--issuer URL] [EVENTS.ndjson | -]
//	tokenwire check   [--config FILE] [--against URL] [--token-file FILE]
//	tokenwire status  [--config FILE] [--addr URL] [--token-file FILE] [--json]
//	tokenwire dlq     list|replay|drop --config FILE [--sink NAME] [--all] [SEQ ...]
//	tokenwire fuzz    MODULE.wasm [--config FILE] [--duration D | --runs N] [--corpus DIR] [--seed N] [--jobs N]
//	tokenwire version
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
