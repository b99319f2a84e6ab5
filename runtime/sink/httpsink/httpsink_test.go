package httpsink

import (
	"crypto/hmac"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/internal/outbox"
	"github.com/tokenwire/tokenwire/internal/outbox/outboxtest"
)

var quiet = outboxtest.Quiet

// receiver is an HTTP endpoint whose behaviour the test switches.
type receiver struct {
	mu       sync.Mutex
	mode     string // "fail", "stall", "ok"
	got      []string
	requests int
	bad      []string // signature or header problems
	key      []byte
	setPush  bool
}

func (rc *receiver) set(mode string) {
	rc.mu.Lock()
	rc.mode = mode
	rc.mu.Unlock()
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.requests++
	mode := rc.mode
	if r.Header.Get("X-Team") != "identity" {
		rc.bad = append(rc.bad, "missing configured header")
	}
	if rc.key != nil && !validSignature(rc.key, body, r.Header.Get(DefaultSignatureHeader)) {
		rc.bad = append(rc.bad, "bad signature on "+string(body))
	}
	if rc.setPush && r.Header.Get("Content-Type") != SETContentType {
		rc.bad = append(rc.bad, "content type "+r.Header.Get("Content-Type"))
	}
	rc.mu.Unlock()
	switch {
	case mode == "fail":
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	case mode == "stall":
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	case rc.setPush && r.Header.Get("Idempotency-Key") == "bad":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"err":"invalid_audience","description":"audience not recognised"}`)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, string(body))
	rc.mu.Unlock()
	if rc.setPush {
		w.WriteHeader(http.StatusAccepted)
	}
}

// validSignature checks a "t=...,v1=..." header the way a receiver would.
func validSignature(key, body []byte, header string) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)) > time.Minute {
		return false
	}
	want := Sign(key, body, time.Unix(sec, 0))
	return hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig))
}

func (rc *receiver) snapshot() (got []string, requests int, bad []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.got...), rc.requests, append([]string(nil), rc.bad...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var fastRetry = outbox.Policy{BackoffInitial: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, BreakerFailures: 1000}

func TestHTTPFailStallRecover(t *testing.T) {
	rc := &receiver{mode: "fail", key: []byte("0123456789abcdef0123456789abcdef")}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	d, err := New(Options{URL: srv.URL, Headers: map[string]string{"X-Team": "identity"}, HMACKey: rc.key, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	q := outboxtest.Queue(t, "receiver")
	dl := outbox.Deliver(q, d, fastRetry, quiet)
	defer dl.Stop()

	var want []string
	for i := range 20 {
		p := fmt.Sprintf(`{"id":"e%02d"}`, i)
		want = append(want, p)
		if _, err := q.Enqueue([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "failed attempts", func() bool { _, n, _ := rc.snapshot(); return n >= 3 })
	rc.set("stall")
	_, before, _ := rc.snapshot()
	waitFor(t, "stalled attempts to time out", func() bool { _, n, _ := rc.snapshot(); return n >= before+2 })
	rc.set("ok")
	outboxtest.WaitEmpty(t, q, 15*time.Second)

	got, _, bad := rc.snapshot()
	if len(bad) > 0 {
		t.Errorf("receiver saw problems: %q", bad)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("delivered\n%s\nwant, in order,\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if dead, _ := q.DeadLetters(); len(dead) != 0 {
		t.Errorf("%d dead letters after recovery, want none", len(dead))
	}
}

func TestSETPush(t *testing.T) {
	rc := &receiver{mode: "fail", setPush: true}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	d, err := New(Options{URL: srv.URL, Headers: map[string]string{"X-Team": "identity"}, SETPush: true})
	if err != nil {
		t.Fatal(err)
	}
	q := outboxtest.Queue(t, "receiver")
	set := func(jti string) []byte {
		enc := base64.RawURLEncoding.EncodeToString
		return []byte(enc([]byte(`{"alg":"ES256","typ":"secevent+jwt"}`)) + "." + enc([]byte(`{"jti":"`+jti+`"}`)) + ".c2ln")
	}
	// The receiver rejects the SET with jti "bad" with 400.
	for _, jti := range []string{"one", "bad", "two"} {
		if _, err := q.Enqueue(set(jti)); err != nil {
			t.Fatal(err)
		}
	}
	dl := outbox.Deliver(q, d, fastRetry, quiet)
	defer dl.Stop()
	waitFor(t, "transient failures", func() bool { _, n, _ := rc.snapshot(); return n >= 2 })
	rc.set("ok")
	outboxtest.WaitEmpty(t, q, 15*time.Second)

	got, _, bad := rc.snapshot()
	if len(bad) > 0 {
		t.Errorf("receiver saw problems: %q", bad)
	}
	if len(got) != 2 || got[0] != string(set("one")) || got[1] != string(set("two")) {
		t.Errorf("receiver accepted %d SETs, want one and two in order", len(got))
	}
	dead, _ := q.DeadLetters()
	if len(dead) != 1 || string(dead[0].Payload) != string(set("bad")) {
		t.Fatalf("dead letters = %d, want the rejected SET", len(dead))
	}
	if dead[0].Attempts != 1 || !strings.Contains(dead[0].Reason, "invalid_audience") {
		t.Errorf("rejected SET: %d attempts, reason %q; want 1 attempt and the receiver's err code", dead[0].Attempts, dead[0].Reason)
	}
}
