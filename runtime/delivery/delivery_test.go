package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/runtime/config"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openConfig(t *testing.T, yaml string) *Delivery {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "tokenwire.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hash.key"), []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func fakeSET(jti string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"ES256","typ":"secevent+jwt"}`)) + "." + enc([]byte(`{"jti":"`+jti+`","events":{}}`)) + ".c2ln"
}

// poll sends one RFC 8936 poll request and decodes the response.
func poll(t *testing.T, url string, req map[string]any) pollResponse {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("poll %s: status %d: %s", body, resp.StatusCode, msg)
	}
	var pr pollResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		t.Fatal(err)
	}
	return pr
}

func jtis(pr pollResponse) []string {
	var out []string
	for j, set := range pr.Sets {
		if set != fakeSET(j) {
			panic("SET under the wrong jti: " + j)
		}
		out = append(out, j)
	}
	sort.Strings(out)
	return out
}

func TestSETPoll(t *testing.T) {
	d := openConfig(t, "issuer: https://tw.example.com\noutbox: {path: outbox.db}\nsinks:\n  - {name: partner, type: set-poll}\n")
	p := d.Polls()["partner"]
	srv := httptest.NewServer(p)
	defer srv.Close()
	for _, j := range []string{"j1", "j2", "j3", "j4", "j5"} {
		if err := d.sinks["partner"].Publish(context.Background(), []byte(fakeSET(j))); err != nil {
			t.Fatal(err)
		}
	}
	first := poll(t, srv.URL, map[string]any{"maxEvents": 2, "returnImmediately": true})
	if got := strings.Join(jtis(first), ","); got != "j1,j2" || !first.MoreAvailable {
		t.Fatalf("first poll = %s, more %v; want j1,j2 and more", got, first.MoreAvailable)
	}
	second := poll(t, srv.URL, map[string]any{"ack": []string{"j1", "j2"}, "maxEvents": 10, "returnImmediately": true})
	if got := strings.Join(jtis(second), ","); got != "j3,j4,j5" || second.MoreAvailable {
		t.Fatalf("second poll = %s; want j3,j4,j5 and no more", got)
	}
	third := poll(t, srv.URL, map[string]any{
		"ack":               []string{"j3"},
		"setErrs":           map[string]any{"j4": map[string]string{"err": "invalid_key", "description": "unknown kid"}},
		"returnImmediately": true,
	})
	if len(third.Sets) != 0 {
		t.Errorf("third poll returned %v; j5 was sent a moment ago and must wait for redelivery", jtis(third))
	}
	if n, _ := p.q.Len(); n != 1 {
		t.Errorf("queue holds %d, want only j5", n)
	}
	dead, _ := p.q.DeadLetters()
	if len(dead) != 1 || string(dead[0].Payload) != fakeSET("j4") || !strings.Contains(dead[0].Reason, "invalid_key") {
		t.Errorf("dead letters = %+v, want j4 with the receiver's error", dead)
	}

	p.redeliverAfter = 0
	again := poll(t, srv.URL, map[string]any{"returnImmediately": true})
	if got := strings.Join(jtis(again), ","); got != "j5" {
		t.Errorf("poll after the redelivery time = %s, want j5 again", got)
	}

	// A long poll waits for the next SET.
	done := make(chan pollResponse, 1)
	go func() { done <- poll(t, srv.URL, map[string]any{"ack": []string{"j5"}, "returnImmediately": false}) }()
	time.Sleep(100 * time.Millisecond)
	if err := d.sinks["partner"].Publish(context.Background(), []byte(fakeSET("j6"))); err != nil {
		t.Fatal(err)
	}
	select {
	case pr := <-done:
		if got := strings.Join(jtis(pr), ","); got != "j6" {
			t.Errorf("long poll = %s, want j6", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not return the new SET")
	}
}

func TestSSFConfiguration(t *testing.T) {
	d := openConfig(t, "issuer: https://tw.example.com\noutbox: {path: outbox.db}\nsinks:\n  - {name: partner, type: set-poll}\n  - {name: push, type: set-push, http: {url: \"https://rp.example.com/set\"}}\n")
	rec := httptest.NewRecorder()
	d.SSFConfiguration("https://tw.example.com").ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/ssf-configuration", nil))
	var c map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
		t.Fatal(err)
	}
	if c["issuer"] != "https://tw.example.com" || c["jwks_uri"] != "https://tw.example.com/.well-known/jwks.json" {
		t.Errorf("metadata = %v", c)
	}
	methods, _ := json.Marshal(c["delivery_methods_supported"])
	if string(methods) != `["urn:ietf:rfc:8935","urn:ietf:rfc:8936"]` {
		t.Errorf("delivery_methods_supported = %s", methods)
	}
	endpoints, _ := json.Marshal(c["tokenwire_poll_endpoints"])
	if string(endpoints) != `["https://tw.example.com/v1/sets/poll/partner"]` {
		t.Errorf("tokenwire_poll_endpoints = %s", endpoints)
	}

	pollOnly := openConfig(t, "outbox: {path: outbox.db}\nsinks:\n  - {name: partner, type: set-poll}\n")
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/.well-known/ssf-configuration", nil)
	req.Host = "127.0.0.1:8080"
	pollOnly.SSFConfiguration("").ServeHTTP(rec, req)
	if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
		t.Fatal(err)
	}
	methods, _ = json.Marshal(c["delivery_methods_supported"])
	if c["issuer"] != "http://127.0.0.1:8080" || c["jwks_uri"] != "http://127.0.0.1:8080/.well-known/jwks.json" || string(methods) != `["urn:ietf:rfc:8936"]` {
		t.Errorf("metadata without issuer and push = %v", c)
	}
}

func TestRedact(t *testing.T) {
	d := openConfig(t, `outbox: {path: outbox.db}
sinks:
  - name: meter
    type: set-poll
    redact: {drop: [claims.email, name], hash: [sub], hash_key_file: hash.key}
`)
	in := `{"sub":"alice","name":"Alice","claims":{"email":"a@example.com","big":12345678901234567890},"n":"<&>"}`
	if err := d.sinks["meter"].Publish(context.Background(), []byte(in)); err != nil {
		t.Fatal(err)
	}
	recs, _ := d.Polls()["meter"].q.Peek(0)
	mac := hmac.New(sha256.New, []byte("0123456789abcdef0123456789abcdef"))
	mac.Write([]byte(`"alice"`))
	want := `{"claims":{"big":12345678901234567890},"n":"<&>","sub":"` + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) + `"}`
	if got := string(recs[0].Payload); got != want {
		t.Errorf("queued %s\nwant   %s", got, want)
	}
	if err := d.sinks["meter"].Publish(context.Background(), []byte(fakeSET("j"))); err == nil {
		t.Error("a SET was queued unredacted; want it refused")
	}
}
