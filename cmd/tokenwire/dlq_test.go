package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tokenwire/tokenwire/internal/outbox"
)

func TestDLQ(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "outbox.db")
	cfgPath := filepath.Join(dir, "tokenwire.yaml")
	cfg := "outbox: {path: outbox.db}\nsinks:\n  - {name: siem, type: http, http: {url: \"http://127.0.0.1:9/\"}}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := outbox.Open(dbPath, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := store.Queue("siem", outbox.Limits{})
	if _, err := q.Enqueue([]byte(`{"id":"a"}`), []byte(`{"id":"b"}`), []byte(`{"id":"c"}`)); err != nil {
		t.Fatal(err)
	}
	recs, _ := q.Peek(0)
	for i := range recs {
		recs[i].Attempts, recs[i].Reason = 20, "20 attempts failed, last: receiver answered 503"
	}
	if err := q.Settle(outbox.Settlement{Dead: recs}); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := runCLI(t, nil, "dlq", "list", "--config", cfgPath)
	if code != exitFailure || !strings.Contains(stderr, "in use by another process") {
		t.Errorf("dlq list with the outbox open elsewhere: exit %d, %q; want a failure naming the lock", code, stderr)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	list := func() []dlqEntry {
		t.Helper()
		code, stdout, stderr := runCLI(t, nil, "dlq", "list", "--config", cfgPath)
		if code != exitOK {
			t.Fatalf("dlq list: exit %d: %s", code, stderr)
		}
		var out []dlqEntry
		for _, line := range lines(stdout) {
			var e dlqEntry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("dlq list line %q: %v", line, err)
			}
			out = append(out, e)
		}
		return out
	}
	dead := list()
	if len(dead) != 3 || dead[0].Sink != "siem" || dead[0].Payload != `{"id":"a"}` || dead[0].Attempts != 20 || !strings.Contains(dead[0].Reason, "503") {
		t.Fatalf("dlq list = %+v", dead)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dlq", "replay", "--config", cfgPath}, "--sink is required"},
		{[]string{"dlq", "drop", "--config", cfgPath, "--sink", "siem"}, "--all"},
		{[]string{"dlq", "drop", "--config", cfgPath, "--sink", "nosuch", "--all"}, `no queue for sink "nosuch"`},
		{[]string{"dlq", "replay", "--config", cfgPath, "--sink", "siem", "x"}, "not a sequence number"},
		{[]string{"dlq", "purge"}, "Usage"},
	} {
		if code, _, stderr := runCLI(t, nil, tc.args...); code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, %q; want usage error with %q", tc.args, code, stderr, tc.want)
		}
	}

	// The sequence numbers may come before the flags.
	if code, _, stderr := runCLI(t, nil, "dlq", "replay", strconv.FormatUint(dead[1].Seq, 10), "--config", cfgPath, "--sink", "siem"); code != exitOK || !strings.Contains(stderr, "1 dead letter") {
		t.Fatalf("dlq replay: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "dlq", "drop", "--config", cfgPath, "--sink", "siem", "--all"); code != exitOK || !strings.Contains(stderr, "2 dead letter") {
		t.Fatalf("dlq drop --all: exit %d: %s", code, stderr)
	}
	if left := list(); len(left) != 0 {
		t.Errorf("dead letters left after drop --all: %+v", left)
	}
	store, err = outbox.Open(dbPath, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	q, _ = store.Queue("siem", outbox.Limits{})
	back, _ := q.Peek(0)
	if len(back) != 1 || string(back[0].Payload) != `{"id":"b"}` || back[0].Attempts != 0 {
		t.Errorf("queue after replay = %+v, want b with no attempts", back)
	}
}

func TestReplayPrintsNetworkSinks(t *testing.T) {
	dir := t.TempDir()
	filter, _ := filepath.Abs("../../examples/claimfilter/claimfilter.wasm")
	cfg := "outbox: {path: outbox.db}\nsinks:\n  - {name: siem, type: http, http: {url: \"http://127.0.0.1:9/\"}}\n" +
		"listeners:\n  - {name: f, module: " + filter + ", config: {claims: [sub], sink: siem}, sinks: [siem]}\n"
	cfgPath := filepath.Join(dir, "tokenwire.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, nil, "replay", "--config", cfgPath, alicePath)
	if code != exitOK || strings.TrimSpace(stdout) != `{"sub":"alice"}` {
		t.Fatalf("replay: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "outbox.db")); !os.IsNotExist(err) {
		t.Errorf("replay created the outbox file (stat: %v)", err)
	}
}

func TestDeliveryExampleConfigChecks(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "check", "--config", "../../examples/configs/delivery.yaml")
	if code != exitOK {
		t.Fatalf("check of the delivery example: exit %d, stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"sink         siem: http", "sink         events: kafka", "sink         partner: set-poll", "listener audit-partner"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output does not contain %q:\n%s", want, out)
		}
	}
}

// TestRunServesSETPoll checks the wiring of run: a listener's emits to a
// set-poll sink are served at the poll endpoint, and the SSF metadata
// names it.
func TestRunServesSETPoll(t *testing.T) {
	dir := t.TempDir()
	filter, _ := filepath.Abs("../../examples/claimfilter/claimfilter.wasm")
	cfg := "outbox: {path: outbox.db}\nsinks:\n  - {name: partner, type: set-poll}\n" +
		"listeners:\n  - {name: f, module: " + filter + ", config: {claims: [jti, sub], sink: partner}, sinks: [partner]}\n"
	cfgPath := filepath.Join(dir, "tokenwire.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _, stderr, stop := startDaemon(t, "--config", cfgPath)
	defer stop()
	event := `{"id":"ev-1","type":"id_token.issued","claims":{"iss":"https://op.example.com","sub":"alice","aud":"c","iat":1767600843,"jti":"ev-1"}}`
	resp, err := http.Post(base+"/v1/events", "application/json", strings.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST event = %d", resp.StatusCode)
	}

	pollOnce := func(body string) map[string]any {
		t.Helper()
		resp, err := http.Post(base+"/v1/sets/poll/partner", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
			t.Fatalf("poll %s: status %d\n%s", body, resp.StatusCode, stderr.String())
		}
		return out
	}
	// The long poll waits for the dispatch of the event.
	got := pollOnce(`{"maxEvents": 10, "returnImmediately": false}`)
	sets, _ := got["sets"].(map[string]any)
	if sets["ev-1"] != `{"jti":"ev-1","sub":"alice"}` {
		t.Fatalf("poll = %v, want the payload under jti ev-1", got)
	}
	got = pollOnce(`{"ack": ["ev-1"], "returnImmediately": true}`)
	if sets, _ := got["sets"].(map[string]any); len(sets) != 0 {
		t.Errorf("poll after the ack = %v, want no SETs", got)
	}

	resp, err = http.Get(base + "/.well-known/ssf-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var meta map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
		t.Fatal(err)
	}
	if meta["jwks_uri"] != base+"/.well-known/jwks.json" {
		t.Errorf("ssf-configuration = %v, want jwks_uri %s/.well-known/jwks.json", meta, base)
	}
}

func TestDLQMissingOutbox(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tokenwire.yaml")
	cfg := "outbox: {path: outbox.db}\nsinks:\n  - {name: siem, type: http, http: {url: \"http://127.0.0.1:9/\"}}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, nil, "dlq", "list", "--config", cfgPath)
	if code != exitUsage || !strings.Contains(stderr, "does not exist") {
		t.Errorf("dlq list without an outbox: exit %d, %q; want a usage error saying it does not exist", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "outbox.db")); !os.IsNotExist(err) {
		t.Errorf("dlq list created the outbox file: %v", err)
	}

	store, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Queue("siem", outbox.Limits{}); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, nil, "dlq", "list", "--config", cfgPath)
	if code != exitOK {
		t.Fatalf("dlq list of an empty outbox: exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if !strings.Contains(stderr, "no dead letters") {
		t.Errorf("stderr = %q, want a note that there are no dead letters", stderr)
	}
}
