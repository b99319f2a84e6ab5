package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/examples"
	"github.com/tokenwire/tokenwire/internal/setverify"
	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
	"github.com/tokenwire/tokenwire/runtime/signer"
)

const issuer = "https://issuer.example.com"

// lineSink records each payload as a string.
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

var (
	signerOnce sync.Once
	rsaSigner  *signer.Signer
	signerErr  error
)

// testSigner returns one ephemeral RS256 signer shared by the tests.
func testSigner(t *testing.T) *signer.Signer {
	t.Helper()
	signerOnce.Do(func() { rsaSigner, signerErr = signer.Ephemeral(signer.Options{Issuer: issuer}) })
	if signerErr != nil {
		t.Fatal(signerErr)
	}
	return rsaSigner
}

// start runs one example listener with the given JSON config under the
// real runtime, its emits going to the returned sink.
func start(t *testing.T, module, configJSON string, sign bool) (*twruntime.Runtime, *lineSink, error) {
	t.Helper()
	out := &lineSink{}
	cfg := &config.Config{
		Issuer: issuer,
		Sinks:  []config.Sink{{Name: "stdout", Type: "stdout"}},
		Listeners: []config.Listener{{
			Name:       filepath.Base(filepath.Dir(module)),
			Module:     module,
			ConfigJSON: []byte(configJSON),
			Sign:       sign,
			Sinks:      []string{"stdout"},
		}},
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := twruntime.New(context.Background(), cfg,
		twruntime.WithLogger(logger),
		twruntime.WithSigner(testSigner(t)),
		twruntime.WithSink("stdout", out))
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return rt, out, nil
}

// readEvents normalizes every event in an NDJSON or JSON file of testdata.
func readEvents(t *testing.T, name string) []*abi.Event {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := intake.NewDecoder(f, intake.Options{DefaultIssuer: issuer})
	var events []*abi.Event
	for {
		ev, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return events
		}
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
}

func TestAuditEmbedded(t *testing.T) {
	onDisk, err := os.ReadFile(filepath.Join("audit", "audit.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(examples.AuditModule, onDisk) {
		t.Error("examples.AuditModule differs from audit/audit.wasm")
	}
}

func TestAuditSignsEveryCorpusEvent(t *testing.T) {
	rt, out, err := start(t, "audit/audit.wasm", `{"sink":"stdout","audience":"https://siem.example.com"}`, true)
	if err != nil {
		t.Fatal(err)
	}
	events := readEvents(t, "corpus.ndjson")
	for _, ev := range events {
		if err := rt.Dispatch(context.Background(), ev); err != nil {
			t.Fatalf("event %s: %v", ev.ID, err)
		}
	}
	if len(out.lines) != len(events) {
		t.Fatalf("%d SETs for %d events", len(out.lines), len(events))
	}
	jwks := testSigner(t).PublicJWKS()
	for i, token := range out.lines {
		ev := events[i]
		header, payload, err := setverify.Verify(token, jwks)
		if err != nil {
			t.Fatalf("SET for %s does not verify: %v", ev.ID, err)
		}
		if header["typ"] != "secevent+jwt" || header["alg"] != "RS256" {
			t.Errorf("SET for %s: header %v", ev.ID, header)
		}
		if payload["txn"] != ev.ID || payload["aud"] != "https://siem.example.com" || payload["iss"] != issuer {
			t.Errorf("SET for %s: txn %v, aud %v, iss %v", ev.ID, payload["txn"], payload["aud"], payload["iss"])
		}
		events, _ := payload["events"].(map[string]any)
		body, ok := events["https://tokenwire.dev/secevent/token-issued"].(map[string]any)
		if !ok {
			t.Fatalf("SET for %s has no token-issued event: %v", ev.ID, payload["events"])
		}
		wantType := strings.TrimSuffix(ev.Type, ".issued")
		if body["token_type"] != wantType || body["client_id"] != ev.ClientID || body["event_id"] != ev.ID {
			t.Errorf("SET for %s: event payload %v", ev.ID, body)
		}
		if got, _ := body["issued_at"].(json.Number); got.String() != strconv.FormatInt(ev.Time, 10) {
			t.Errorf("SET for %s: issued_at %v, want %d", ev.ID, got, ev.Time)
		}
		subID, _ := payload["sub_id"].(map[string]any)
		if ev.Subject != "" {
			if subID["format"] != "iss_sub" || subID["iss"] != ev.Issuer || subID["sub"] != ev.Subject {
				t.Errorf("SET for %s: sub_id %v, want iss_sub of %s", ev.ID, subID, ev.Subject)
			}
		} else if subID["format"] != "opaque" || subID["id"] != ev.ClientID {
			t.Errorf("SET for subjectless %s: sub_id %v, want opaque client id", ev.ID, subID)
		}
	}
}

func TestAuditWithoutSignGrant(t *testing.T) {
	rt, out, err := start(t, "audit/audit.wasm", `{}`, false)
	if err == nil {
		err = rt.Dispatch(context.Background(), readEvents(t, "alice.json")[0])
	}
	if err == nil || !strings.Contains(err.Error(), "NOT_PERMITTED") {
		t.Errorf("error = %v, want the listener to report NOT_PERMITTED", err)
	}
	if out != nil && len(out.lines) != 0 {
		t.Errorf("emitted %q without signing", out.lines)
	}
}

func TestClaimFilterAlice(t *testing.T) {
	rt, out, err := start(t, "claimfilter/claimfilter.wasm", `{"claims":["sub","iat"],"sink":"stdout"}`, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Dispatch(context.Background(), readEvents(t, "alice.json")[0]); err != nil {
		t.Fatal(err)
	}
	if len(out.lines) != 1 || out.lines[0] != `{"sub":"alice","iat":1523304728}` {
		t.Errorf("output = %q, want [{\"sub\":\"alice\",\"iat\":1523304728}]", out.lines)
	}
}

func TestClaimFilterKeepsBigIntegers(t *testing.T) {
	rt, out, err := start(t, "claimfilter/claimfilter.wasm",
		`{"claims":["sub","account_number","overdraft_limit","ratio"],"properties":{"source":"tokenwire"}}`, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range readEvents(t, "corpus.ndjson") {
		if ev.ID != "big-int-0001" {
			continue
		}
		if err := rt.Dispatch(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	want := `{"sub":"grace","account_number":98765432109876543210,"overdraft_limit":-12345678901234567890,"ratio":6.02214076e+23,"source":"tokenwire"}`
	if len(out.lines) != 1 || out.lines[0] != want {
		t.Errorf("output = %q, want [%s]", out.lines, want)
	}
}

func TestClaimFilterBadConfig(t *testing.T) {
	cases := map[string]string{
		"no claims":          `{}`,
		"property collision": `{"claims":["sub"],"properties":{"sub":"x"}}`,
	}
	for name, configJSON := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := start(t, "claimfilter/claimfilter.wasm", configJSON, false)
			if !errors.Is(err, twruntime.ErrStart) || !strings.Contains(err.Error(), "tw_init failed") {
				t.Errorf("error = %v, want tw_init to fail the load", err)
			}
		})
	}
}
