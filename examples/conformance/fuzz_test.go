package conformance_test

import (
	"context"
	"testing"

	"github.com/tokenwire/tokenwire/runtime/intake"
)

// fuzzConfig is the claimfilter config of FuzzClaimFilterBuildsAgree. Its
// names cover plain, escaped, non-ASCII and HTML-escaped keys, so that
// claims the fuzzer writes can match them in several spellings.
const fuzzConfig = `{"claims":["sub","iat","a","ab","é","<x>","a\"b","n","z"],` +
	`"properties":{"source":"fuzz","big":123456789012345678901234567890}}`

// FuzzClaimFilterBuildsAgree runs every build of the claimfilter listener
// on events whose claims the fuzzer writes, and fails when a build's output
// or outcome differs from the Go build's. It seeds with the claims of the
// conformance corpus.
func FuzzClaimFilterBuildsAgree(f *testing.F) {
	for _, ev := range corpus(f) {
		f.Add(string(ev.Claims), "a")
	}
	// Names are raw JSON string content, so escapes stay escaped.
	for _, name := range []string{"é", "<x>", `a\"b`, "ab", `\u00e9`, `\ud800`, `a\u0062`, `n\u0000`} {
		f.Add(`"value"`, name)
	}
	var claimfilter suite
	for _, s := range suites() {
		if s.listener == "claimfilter" {
			claimfilter = s
		}
	}
	config := namedConfig{"fuzz", fuzzConfig}
	type started struct {
		lang string
		run  func(claims []byte) (failed bool, emits []string)
	}
	var builds []started
	for _, b := range claimfilter.builds {
		requireModule(f, b.module(claimfilter.listener))
		rt, out, err := start(f, claimfilter, b, config)
		if err != nil {
			f.Fatalf("%s: %v", b.lang, err)
		}
		builds = append(builds, started{b.lang, func(claims []byte) (bool, []string) {
			err := rt.DispatchEncoded(context.Background(), "fuzz", "id_token.issued", claims)
			return err != nil, out.take()
		}})
	}

	// check dispatches one event with the given claims, when intake
	// accepts it, to every build.
	check := func(t *testing.T, claims string) {
		ev, err := intake.Normalize([]byte(`{"id":"fuzz","type":"id_token.issued","time":1,`+
			`"issuer":"https://op.example.com","client_id":"c","claims":`+claims+`}`), intake.Options{})
		if err != nil {
			return
		}
		encoded := intake.Encode(ev)
		wantFailed, want := builds[0].run(encoded)
		for _, b := range builds[1:] {
			failed, got := b.run(encoded)
			if failed != wantFailed || !equalStrings(got, want) {
				t.Errorf("claims %s:\n%s: failed=%v %q\n%s: failed=%v %q",
					claims, builds[0].lang, wantFailed, want, b.lang, failed, got)
			}
		}
	}

	// The fuzzer writes whole claims objects, and also one claim name, raw
	// between quotes, whose value is the first input.
	f.Fuzz(func(t *testing.T, claims, name string) {
		check(t, claims)
		check(t, `{"`+name+`":`+claims+`,"z":0}`)
	})
}
