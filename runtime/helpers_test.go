package runtime

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
	"github.com/tokenwire/tokenwire/runtime/signer"
	"github.com/tokenwire/tokenwire/runtime/sink"
)

const testIssuer = "https://issuer.example.com"

// guestPath returns the path of a prebuilt test guest.
func guestPath(name string) string {
	return filepath.Join("..", "testdata", "guests", name+".wasm")
}

// captureSink records every payload it receives. It writes through a
// sink.Lines, so it rejects what the stdout sink rejects.
type captureSink struct {
	buf   logBuffer
	lines *sink.Lines
}

func newCaptureSink() *captureSink {
	c := &captureSink{}
	c.lines = sink.NewLines(&c.buf)
	return c
}

func (c *captureSink) Publish(ctx context.Context, p []byte) error { return c.lines.Publish(ctx, p) }
func (c *captureSink) Close(context.Context) error                 { return nil }

// all returns the payloads received so far.
func (c *captureSink) all() []string {
	text := c.buf.String()
	if text == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

// logBuffer is a concurrency-safe buffer for a test logger.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testSigner returns an ES256 signer, which is fast to create.
func testSigner(t testing.TB) *signer.Signer {
	t.Helper()
	s, err := signer.Parse(testKeyPEM(t), signer.Options{Issuer: testIssuer})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testKeyPEM returns a new P-256 private key in PKCS #8 PEM.
func testKeyPEM(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// testEnv is a runtime with captured sinks and logs.
type testEnv struct {
	rt     *Runtime
	out    *captureSink // sink "stdout"
	other  *captureSink // sink "other", never granted by default
	logs   *logBuffer
	signer *signer.Signer
}

// listenerFor returns a listener config for a test guest with the stdout
// sink and signing granted.
func listenerFor(name, guest string) config.Listener {
	return config.Listener{
		Name:   name,
		Module: guestPath(guest),
		Sign:   true,
		Sinks:  []string{"stdout"},
	}
}

// newEnv starts a runtime for listeners and closes it when the test ends.
func newEnv(t testing.TB, listeners ...config.Listener) *testEnv {
	t.Helper()
	env, err := tryEnv(t, listeners...)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func tryEnv(t testing.TB, listeners ...config.Listener) (*testEnv, error) {
	t.Helper()
	env := &testEnv{out: newCaptureSink(), other: newCaptureSink(), logs: &logBuffer{}, signer: testSigner(t)}
	cfg := &config.Config{
		Issuer:    testIssuer,
		Sinks:     []config.Sink{{Name: "stdout", Type: "stdout"}, {Name: "other", Type: "stdout"}},
		Listeners: listeners,
	}
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rt, err := New(context.Background(), cfg,
		WithLogger(logger),
		WithSigner(env.signer),
		WithSink("stdout", env.out),
		WithSink("other", env.other))
	if err != nil {
		return nil, err
	}
	env.rt = rt
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return env, nil
}

// corpus returns the normalized events of the test corpus.
func corpus(t testing.TB) []*abi.Event {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "events", "corpus.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := intake.NewDecoder(f, intake.Options{DefaultIssuer: testIssuer})
	var events []*abi.Event
	for {
		ev, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("corpus: %v", err)
		}
		events = append(events, ev)
	}
	if len(events) < 10 {
		t.Fatalf("corpus has %d events, want at least 10", len(events))
	}
	return events
}

// testEvent returns a small valid event.
func testEvent(id string) *abi.Event {
	return &abi.Event{
		ID:       id,
		Type:     abi.EventIDTokenIssued,
		Time:     1523304728,
		Issuer:   testIssuer,
		ClientID: "client-a",
		Subject:  "alice",
		Claims:   []byte(`{"iss":"https://issuer.example.com","sub":"alice","aud":"client-a","iat":1523304728}`),
	}
}

// mustContain fails the test unless s contains every one of wants.
func mustContain(t testing.TB, label, s string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(s, want) {
			t.Errorf("%s does not contain %q:\n%s", label, want, s)
		}
	}
}

func eventIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("evt-%04d", i)
	}
	return ids
}

func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// listener returns the i-th listener of the running generation.
func (r *Runtime) listener(i int) *listener { return r.gen.Load().entries[i].l }
