package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

// blockingSink holds every Publish until release is closed.
type blockingSink struct {
	release chan struct{}
	mu      sync.Mutex
	count   int
}

func (b *blockingSink) Publish(ctx context.Context, _ []byte) error {
	<-b.release
	b.mu.Lock()
	b.count++
	b.mu.Unlock()
	return nil
}

func (b *blockingSink) Close(context.Context) error { return nil }

func (b *blockingSink) published() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.count
}

func newTestServer(t *testing.T, queueSize int, out *blockingSink) (*Server, *httptest.Server) {
	t.Helper()
	cfg := &config.Config{
		Issuer: "https://issuer.example.com",
		Intake: config.Intake{QueueSize: queueSize, Workers: 1},
		Sinks:  []config.Sink{{Name: "stdout", Type: "stdout"}},
		Listeners: []config.Listener{{
			Name:   "echo",
			Module: filepath.Join("..", "..", "testdata", "guests", "echo.wasm"),
			Sinks:  []string{"stdout"},
			// The sink blocks, so the deadline must not end the call.
			Deadline: config.Duration(time.Minute),
		}},
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := twruntime.New(context.Background(), cfg, twruntime.WithLogger(logger), twruntime.WithSink("stdout", out))
	if err != nil {
		t.Fatal(err)
	}
	srv := New(rt, cfg.Intake, intake.Options{DefaultIssuer: cfg.Issuer, MaxEventBytes: int(cfg.Intake.MaxEventBytes)}, logger)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		_ = rt.Close(context.Background())
	})
	return srv, ts
}

func event(id string) string {
	return `{"id":"` + id + `","type":"id_token.issued","claims":{"iss":"https://issuer.example.com","sub":"alice","iat":1523304728}}`
}

func post(t *testing.T, url, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url+"/v1/events", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(data)
}

func TestQueueFullAnswers503(t *testing.T) {
	out := &blockingSink{release: make(chan struct{})}
	srv, ts := newTestServer(t, 2, out)

	// The one worker takes the first event and blocks in the sink; two
	// more fill the queue.
	for _, id := range []string{"e1", "e2", "e3"} {
		resp, body := post(t, ts.URL, event(id))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST %s = %d, want 202: %s", id, resp.StatusCode, body)
		}
		if id == "e1" {
			waitFor(t, func() bool { return srv.queue.length() == 0 })
		}
	}

	resp, body := post(t, ts.URL, event("e4"))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("POST over capacity = %d, want 503: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Retry-After"); got == "" {
		t.Error("503 has no Retry-After header")
	}
	if !strings.Contains(body, "queue_size") {
		t.Errorf("503 body does not name the setting: %s", body)
	}

	close(out.release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if left := srv.Drain(ctx); left != 0 {
		t.Fatalf("drain left %d events", left)
	}
	if got := out.published(); got != 3 {
		t.Errorf("published %d events, want the 3 accepted", got)
	}
}

func TestBatchAdmittedWholeOrNot(t *testing.T) {
	out := &blockingSink{release: make(chan struct{})}
	srv, ts := newTestServer(t, 3, out)
	resp, body := post(t, ts.URL, event("a1"))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST = %d: %s", resp.StatusCode, body)
	}
	waitFor(t, func() bool { return srv.queue.length() == 0 })
	resp, _ = post(t, ts.URL, event("a2")+"\n"+event("a3"))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST of 2 = %d, want 202", resp.StatusCode)
	}

	// One slot is left: a batch of 2 fits the queue but not its room.
	resp, _ = post(t, ts.URL, event("b1")+"\n"+event("b2"))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("batch over the free room = %d, want 503", resp.StatusCode)
	}
	if n := srv.queue.length(); n != 2 {
		t.Errorf("queue holds %d events, want 2: none of the rejected batch", n)
	}
	close(out.release)
}

func TestBatchLargerThanQueue(t *testing.T) {
	out := &blockingSink{release: make(chan struct{})}
	close(out.release)
	_, ts := newTestServer(t, 3, out)
	batch := strings.Join([]string{event("b1"), event("b2"), event("b3"), event("b4")}, "\n")
	resp, body := post(t, ts.URL, batch)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("batch larger than the queue = %d, want 413: %s", resp.StatusCode, body)
	}
	if !strings.Contains(body, "split it") || !strings.Contains(body, "queue_size") {
		t.Errorf("413 body does not say what to do: %s", body)
	}
}

func TestAcceptedIDs(t *testing.T) {
	out := &blockingSink{release: make(chan struct{})}
	close(out.release)
	srv, ts := newTestServer(t, 10, out)
	resp, body := post(t, ts.URL, event("x1")+"\n\n"+event("x2")+"\n")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST = %d: %s", resp.StatusCode, body)
	}
	var accepted struct{ IDs []string }
	if err := json.Unmarshal([]byte(body), &accepted); err != nil {
		t.Fatal(err)
	}
	if strings.Join(accepted.IDs, ",") != "x1,x2" {
		t.Errorf("ids = %v, want [x1 x2]", accepted.IDs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Drain(ctx)
	if got := out.published(); got != 2 {
		t.Errorf("published %d, want 2", got)
	}
}

func TestDrainRejectsNewEvents(t *testing.T) {
	out := &blockingSink{release: make(chan struct{})}
	close(out.release)
	srv, ts := newTestServer(t, 10, out)
	srv.Drain(context.Background())
	resp, _ := post(t, ts.URL, event("late"))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST after drain = %d, want 503", resp.StatusCode)
	}
}

func TestRequestTooLarge(t *testing.T) {
	out := &blockingSink{release: make(chan struct{})}
	close(out.release)
	_, ts := newTestServer(t, 1_000_000, out)
	// The default max_request_bytes is 16 MiB; send more in small events.
	var b strings.Builder
	for b.Len() < 17<<20 {
		b.WriteString(event("x"))
		b.WriteByte('\n')
	}
	resp, body := post(t, ts.URL, b.String())
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("POST of 17 MiB = %d, want 413: %.200s", resp.StatusCode, body)
	}
	if !strings.Contains(body, "max_request_bytes") {
		t.Errorf("413 body does not name the setting: %s", body)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAuthToken(t *testing.T) {
	out := &blockingSink{release: make(chan struct{})}
	close(out.release)
	srv, ts := newTestServer(t, 10, out)
	srv.authToken = []byte("0123456789abcdef0123")
	cases := []struct {
		name   string
		header string
		status int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"wrong token", "Bearer 0123456789abcdef0124", http.StatusUnauthorized},
		{"basic scheme", "Basic 0123456789abcdef0123", http.StatusUnauthorized},
		{"token prefix", "Bearer 0123456789abcdef012", http.StatusUnauthorized},
		{"right token", "Bearer 0123456789abcdef0123", http.StatusAccepted},
		{"lowercase scheme", "bearer 0123456789abcdef0123", http.StatusAccepted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, ts.URL+"/v1/events", strings.NewReader(event("auth")))
			if err != nil {
				t.Fatal(err)
			}
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d", resp.StatusCode, c.status)
			}
			if c.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 has no WWW-Authenticate header")
			}
		})
	}
	// The public keys and health check stay open.
	for _, path := range []string{"/.well-known/jwks.json", "/healthz"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
	}
}

// TestBodiesEndInNewline checks that the bodies of the endpoints the server
// serves itself end in a line break, so that curl output and shell
// pipelines keep their lines apart.
func TestBodiesEndInNewline(t *testing.T) {
	out := &blockingSink{release: make(chan struct{})}
	close(out.release)
	_, ts := newTestServer(t, 10, out)
	cases := []struct {
		name, method, path, body string
	}{
		{"healthz", http.MethodGet, "/healthz", ""},
		{"jwks", http.MethodGet, "/.well-known/jwks.json", ""},
		{"status", http.MethodGet, "/v1/status", ""},
		{"accepted", http.MethodPost, "/v1/events", event("newline-1")},
		{"problem", http.MethodPost, "/v1/events", "{"},
		{"not found", http.MethodGet, "/no-such-path", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, ts.URL+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(string(data), "\n") {
				t.Errorf("%s %s: body %q does not end in a newline", c.method, c.path, data)
			}
		})
	}
}
