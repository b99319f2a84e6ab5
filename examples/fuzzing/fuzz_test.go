// These fuzz targets show package fuzzguest on the example listeners. Run
// one with
//
//	go test ./examples/fuzzing -run '^$' -fuzz FuzzClaimfilter -fuzztime 60s
//
// Plain go test runs only the seed events.
package fuzzing_test

import (
	"testing"

	"github.com/tokenwire/tokenwire/runtime/fuzzguest"
)

func FuzzClaimfilter(f *testing.F) {
	fuzzguest.Fuzz(f, "../claimfilter/claimfilter.wasm", fuzzguest.Options{
		Config: `{"claims": ["sub", "email", "aud"], "properties": {"source": "fuzz"}}`,
	})
}

func FuzzAudit(f *testing.F) {
	fuzzguest.Fuzz(f, "../audit/audit.wasm", fuzzguest.Options{Config: `{"sink": "stdout"}`})
}
