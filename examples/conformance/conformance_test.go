// Package conformance_test checks that every language's build of each
// example listener behaves the same: for a corpus of events and a set of
// configs, each build must emit exactly the output recorded in
// testdata/<listener>.golden.json, and must reject the same bad configs.
//
// The golden files come from the Go builds. After a deliberate change of
// behaviour, rebuild the modules (scripts/build-guests.sh) and rewrite them:
//
//	go test ./examples/conformance -update
package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/internal/setverify"
	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
	"github.com/tokenwire/tokenwire/runtime/signer"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the Go builds")

const issuer = "https://issuer.example.com"

// signedAt is the fixed clock of the test signer, so "iat" is stable.
var signedAt = time.Unix(1767225600, 0)

// build is one language's build of an example listener.
type build struct {
	lang string
	// dir is the module's directory below examples/<listener>, empty for
	// the Go build, which sits in examples/<listener> itself.
	dir string
}

var (
	goBuild = build{"go", ""}
	cBuild  = build{"c", "c"}
	// cFreeBuild is the C source built without a C library.
	cFreeBuild = build{"c-freestanding", "c-freestanding"}
	rustBuild  = build{"rust", "rust"}
	asBuild    = build{"assemblyscript", "as"}
	watBuild   = build{"wat", "wat"}
)

// moduleRoot, when set, is a directory laid out like the repository that
// holds rebuilt modules (scripts/build-guests.sh --out DIR). The tests then
// run those instead of the committed ones, and skip a build that is not
// there.
var moduleRoot = os.Getenv("TOKENWIRE_MODULE_ROOT")

// module returns the path of b's module of listener, relative to this
// package's directory.
func (b build) module(listener string) string {
	if moduleRoot != "" {
		return filepath.Join(moduleRoot, "examples", listener, b.dir, listener+".wasm")
	}
	return filepath.Join("..", listener, b.dir, listener+".wasm")
}

// suite is one example listener with its configs.
type suite struct {
	listener string
	sign     bool
	builds   []build
	// configs are run against the whole corpus; their names key the golden
	// file.
	configs []namedConfig
	// badConfigs must make tw_init fail in every build.
	badConfigs []namedConfig
	// normalize turns one emitted payload into its comparable form.
	normalize func(t *testing.T, payload string) string
}

type namedConfig struct {
	name, json string
}

func suites() []suite {
	return []suite{
		{
			listener: "claimfilter",
			builds:   []build{goBuild, cBuild, cFreeBuild, rustBuild, asBuild},
			configs: []namedConfig{
				{"basic", `{"claims":["sub","iat"]}`},
				{"wide", `{"claims":["sub","account_number","overdraft_limit","ratio","tiny","huge","exact","zero","名前","ab","emoji","lone","html","ls","ctl","quote","amr","address","nested","big_array","null","t","f","obj","arr","str","email_verified","middle_name","missing"],` +
					`"properties":{"source":"tokenwire","z":[1,{"b":2}],"a":12345678901234567890123,"é":"ü","<tag>":"&","\ud83d\ude00":null,"A":{"x":1e400}}}`},
				{"access only", `{"claims":["sub","scope","client_id"],"events":["access_token.issued"],"sink":"stdout"}`},
				{"id only", `{"claims":["sub"],"events":["id_token.issued","id_token.issued"],"properties":{"kind":"id"}}`},
				{"no claims", `{"claims":[]}`},
				{"nulls", `{"claims":["iss","aud"],"properties":null,"events":null,"sink":null}`},
				{"escaped names", `{"claims":["a\"b","tab\there","<x>","\u00e9","line\u2028sep","名前"],"properties":{"q\"uote":"\\","\u0001":1}}`},
				{"folded member names", `{"CLAIMS":["sub"],"Sink":"stdout","PROPERTIES":{"x":1}}`},
				// Every event fails with NOT_FOUND from emit.
				{"unknown sink", `{"claims":["sub"],"sink":"nowhere"}`},
			},
			badConfigs: []namedConfig{
				{"empty", `{}`},
				{"null claims", `{"claims":null}`},
				{"claims not array", `{"claims":"sub"}`},
				{"claim not string", `{"claims":[1]}`},
				{"null claim", `{"claims":[null]}`},
				{"empty claim", `{"claims":[""]}`},
				{"repeated claim", `{"claims":["sub","sub"]}`},
				{"property collision", `{"claims":["sub"],"properties":{"sub":"x"}}`},
				{"properties not object", `{"claims":["sub"],"properties":[]}`},
				{"empty events", `{"claims":["sub"],"events":[]}`},
				{"unknown event type", `{"claims":["sub"],"events":["id_token"]}`},
				{"sink not string", `{"claims":["sub"],"sink":5}`},
				{"unknown member", `{"claims":["sub"],"extra":1}`},
			},
			normalize: func(_ *testing.T, payload string) string { return payload },
		},
		{
			listener: "audit",
			sign:     true,
			builds:   []build{goBuild, cBuild, cFreeBuild, rustBuild, asBuild, watBuild},
			configs: []namedConfig{
				{"default", `{}`},
				{"audience", `{"audience":"https://siem.example.com"}`},
				{"audiences", `{"audience":["a","https://b.example/<&>"],"sink":"stdout"}`},
				{"nulls", `{"audience":null,"sink":null}`},
				{"folded member names", `{"AUDIENCE":"x","SINK":"stdout"}`},
				// Every event fails with NOT_FOUND from emit, after signing.
				{"unknown sink", `{"sink":"nowhere"}`},
			},
			badConfigs: []namedConfig{
				{"empty sink", `{"sink":""}`},
				{"empty audience", `{"audience":""}`},
				{"empty audience array", `{"audience":[]}`},
				{"empty audience element", `{"audience":["a",""]}`},
				{"audience number", `{"audience":5}`},
				{"audience element number", `{"audience":[1]}`},
				{"sink number", `{"sink":1}`},
				{"unknown member", `{"other":1}`},
			},
			normalize: normalizeSET,
		},
	}
}

// watConfigs lists the configs the hand-written WAT audit listener
// supports: it reads no config, and fails to start with any config but {}.
var watConfigs = map[string]bool{"default": true}

// golden is the content of a golden file: for each config name, the
// outcome of each corpus event in order.
type golden map[string][]outcome

// outcome is what one listener did with one event.
type outcome struct {
	Event  string   `json:"event"`
	Failed bool     `json:"failed,omitempty"`
	Emits  []string `json:"emits"`
}

func TestConformance(t *testing.T) {
	events := corpus(t)
	for _, s := range suites() {
		t.Run(s.listener, func(t *testing.T) {
			goldenPath := filepath.Join("testdata", s.listener+".golden.json")
			if *update {
				got := make(golden)
				for _, c := range s.configs {
					got[c.name] = run(t, s, goBuild, c, events)
				}
				writeGolden(t, goldenPath, got)
			}
			want := readGolden(t, goldenPath)
			for _, b := range s.builds {
				t.Run(b.lang, func(t *testing.T) {
					requireModule(t, b.module(s.listener))
					for _, c := range s.configs {
						t.Run(c.name, func(t *testing.T) {
							if b == watBuild && !watConfigs[c.name] {
								if err := startErr(t, s, b, c); err == nil {
									t.Errorf("the WAT build started with config %s; it must reject every config but {}", c.json)
								}
								return
							}
							compare(t, want[c.name], run(t, s, b, c, events))
						})
					}
					for _, c := range s.badConfigs {
						t.Run("bad "+c.name, func(t *testing.T) {
							err := startErr(t, s, b, c)
							if !errors.Is(err, twruntime.ErrStart) || !strings.Contains(err.Error(), "tw_init failed") {
								t.Errorf("config %s: error = %v, want tw_init to fail", c.json, err)
							}
						})
					}
				})
			}
		})
	}
}

// requireModule fails the test when the committed module is missing.
func requireModule(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if moduleRoot != "" {
			t.Skipf("module %s was not rebuilt: %v", path, err)
		}
		t.Fatalf("module %s is missing: build it with scripts/build-guests.sh and commit it (%v)", path, err)
	}
}

// compare reports every event whose outcome differs.
func compare(t *testing.T, want, got []outcome) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d outcomes, golden file has %d: rerun with -update after changing the corpus", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.Event != g.Event || w.Failed != g.Failed || !equalStrings(w.Emits, g.Emits) {
			t.Errorf("event %q:\n got failed=%v emits=%s\nwant failed=%v emits=%s",
				w.Event, g.Failed, abbreviate(g.Emits), w.Failed, abbreviate(w.Emits))
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// abbreviate shortens long payloads in failure messages.
func abbreviate(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		if len(l) > 600 {
			l = l[:300] + " ... " + l[len(l)-300:]
		}
		fmt.Fprintf(&b, "\n    %s", l)
	}
	return b.String()
}

var (
	cache     = wazero.NewCompilationCache()
	keyOnce   sync.Once
	keySigner *signer.Signer
	keyErr    error
)

// testSigner returns the signer of every audit run: the example key with a
// fixed clock, so that SETs differ between runs only in "jti".
func testSigner(t testing.TB) *signer.Signer {
	t.Helper()
	keyOnce.Do(func() {
		keySigner, keyErr = signer.LoadFile(filepath.Join("..", "configs", "example-only-issuer-key.pem"),
			signer.Options{Issuer: issuer, Now: func() time.Time { return signedAt }})
	})
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	return keySigner
}

// lineSink records each payload.
type lineSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *lineSink) Publish(_ context.Context, p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, string(p))
	return nil
}

func (s *lineSink) Close(context.Context) error { return nil }

// take returns the payloads recorded since the last call.
func (s *lineSink) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := s.lines
	s.lines = nil
	return lines
}

// start loads module b of suite s with config c.
func start(t testing.TB, s suite, b build, c namedConfig) (*twruntime.Runtime, *lineSink, error) {
	t.Helper()
	out := &lineSink{}
	cfg := &config.Config{
		Issuer: issuer,
		Sinks:  []config.Sink{{Name: "stdout", Type: "stdout"}},
		Listeners: []config.Listener{{
			Name:       s.listener + "-" + b.lang,
			Module:     b.module(s.listener),
			ConfigJSON: []byte(c.json),
			Sign:       s.sign,
			Sinks:      []string{"stdout"},
			PoolSize:   1,
			// Generous, because the machine running the tests may be busy
			// and the Go builds take a while on the biggest events: the Go
			// audit build spends more than the default billion
			// instructions on the 20,000-element array.
			Deadline: config.Duration(20 * time.Second),
			Budgets:  config.Budgets{Instructions: 100_000_000_000},
		}},
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	rt, err := twruntime.New(context.Background(), cfg,
		twruntime.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		twruntime.WithSigner(testSigner(t)),
		twruntime.WithSink("stdout", out),
		twruntime.WithBackoff(false),
		twruntime.WithCompilationCache(cache))
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return rt, out, nil
}

// startErr returns the error of loading b with config c.
func startErr(t *testing.T, s suite, b build, c namedConfig) error {
	t.Helper()
	_, _, err := start(t, s, b, c)
	return err
}

// run dispatches every event to b with config c and records the outcomes.
func run(t *testing.T, s suite, b build, c namedConfig, events []*abi.Event) []outcome {
	t.Helper()
	rt, out, err := start(t, s, b, c)
	if err != nil {
		t.Fatalf("config %s: %v", c.json, err)
	}
	outcomes := make([]outcome, 0, len(events))
	for _, ev := range events {
		err := rt.Dispatch(context.Background(), ev)
		o := outcome{Event: ev.ID, Failed: err != nil, Emits: []string{}}
		for _, p := range out.take() {
			o.Emits = append(o.Emits, s.normalize(t, p))
		}
		outcomes = append(outcomes, o)
	}
	return outcomes
}

// normalizeSET verifies a SET with the test key and returns its header and
// payload as canonical JSON, with "jti" replaced by a placeholder after
// checking that it is a non-empty string.
func normalizeSET(t *testing.T, token string) string {
	t.Helper()
	header, payload, err := setverify.Verify(token, testSigner(t).PublicJWKS())
	if err != nil {
		t.Errorf("SET does not verify: %v: %s", err, token)
		return "unverified: " + token
	}
	if jti, ok := payload["jti"].(string); !ok || jti == "" {
		t.Errorf("SET has no jti: %v", payload["jti"])
	}
	payload["jti"] = "(checked)"
	canonical, err := json.Marshal(map[string]any{"header": header, "payload": payload})
	if err != nil {
		t.Fatal(err)
	}
	return string(canonical)
}

// corpus returns the events of testdata/events/corpus.ndjson followed by
// the edge cases of testdata/edge.ndjson.
func corpus(t testing.TB) []*abi.Event {
	t.Helper()
	events := readEvents(t, filepath.Join("..", "..", "testdata", "events", "corpus.ndjson"))
	return append(events, readEvents(t, filepath.Join("testdata", "edge.ndjson"))...)
}

func readEvents(t testing.TB, path string) []*abi.Event {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := intake.NewDecoder(bytes.NewReader(data), intake.Options{DefaultIssuer: issuer})
	var events []*abi.Event
	for {
		ev, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return events
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		events = append(events, ev)
	}
}

func readGolden(t *testing.T, path string) golden {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: create it with go test ./examples/conformance -update", err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return g
}

func writeGolden(t *testing.T, path string, g golden) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
