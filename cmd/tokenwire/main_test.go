package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/internal/setverify"
)

const (
	corpusPath  = "../../testdata/events/corpus.ndjson"
	invalidPath = "../../testdata/events/invalid.ndjson"
	auditModule = "../../examples/audit/audit.wasm"
	alicePath   = "../../testdata/events/alice.json"
)

func guest(name string) string { return "../../testdata/guests/" + name + ".wasm" }

// syncBuffer is a buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runCLI runs the command with args and returns its exit status, stdout
// and stderr.
func runCLI(t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, stdin, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range lines(string(data)) {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n
}

// writeRSAKey writes a PKCS#8 PEM RSA key and returns its path.
func writeRSAKey(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "issuer.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, nil, "version")
	if code != exitOK || !strings.Contains(out, "ABI v1") {
		t.Errorf("version: exit %d, output %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, errOut := runCLI(t, nil, "frobnicate")
	if code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestReplayEcho(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "replay", "--module", guest("echo"), corpusPath)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	want := countLines(t, corpusPath)
	if got := len(lines(out)); got != want {
		t.Errorf("stdout has %d lines, want one per event: %d", got, want)
	}
	if !strings.Contains(errOut, fmt.Sprintf("events: %d, invalid: 0, with listener failures: 0", want)) {
		t.Errorf("summary missing from stderr:\n%s", errOut)
	}
}

func TestReplayStdin(t *testing.T) {
	f, err := os.Open(corpusPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	code, out, errOut := runCLI(t, f, "replay", "--module", guest("echo"), "-")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if got, want := len(lines(out)), countLines(t, corpusPath); got != want {
		t.Errorf("stdout has %d lines, want %d", got, want)
	}
}

func TestReplayHostileBesideGood(t *testing.T) {
	for _, hostile := range []string{"trap", "exit", "oob", "loop"} {
		t.Run(hostile, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, "replay", "--module", guest("echo"), "--module", guest(hostile), corpusPath)
			want := countLines(t, corpusPath)
			echoed := 0
			for _, line := range lines(out) {
				if strings.HasPrefix(line, `{"id"`) {
					echoed++
				}
			}
			if echoed != want {
				t.Errorf("good listener printed %d events, want %d", echoed, want)
			}
			if strings.Contains(errOut, "panic") {
				t.Errorf("stderr mentions a panic:\n%s", errOut)
			}
			if hostile == "oob" {
				// oob gets a status for every bad pointer and succeeds.
				if code != exitOK {
					t.Errorf("exit %d, want %d; stderr:\n%s", code, exitOK, errOut)
				}
				return
			}
			if code != exitFailure {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitFailure, errOut)
			}
			if !strings.Contains(errOut, fmt.Sprintf("listener %q", hostile)) {
				t.Errorf("stderr does not name the failing listener:\n%s", errOut)
			}
		})
	}
}

func TestReplayLoadErrors(t *testing.T) {
	cases := []struct {
		guest string
		want  string
	}{
		{"no_marker", `missing export "tokenwire_abi_v1"`},
		{"bad_import", `unknown import "env.foo"`},
		{"init_fails", "tw_init failed"},
	}
	for _, c := range cases {
		t.Run(c.guest, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, "replay", "--module", guest(c.guest), corpusPath)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
			for _, want := range []string{c.want, c.guest + ".wasm"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, errOut)
				}
			}
		})
	}
}

func TestReplayInvalidEvents(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "replay", "--module", guest("echo"), invalidPath)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	if got := lines(out); len(got) != 1 || !strings.Contains(got[0], "invalid-ndjson-valid-line") {
		t.Errorf("stdout = %q, want only the one valid event", got)
	}
	for _, want := range []string{"invalid.ndjson:1:", "invalid.ndjson:3:", `"id_token.isued"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, errOut)
		}
	}
}

func TestReplayUsageErrors(t *testing.T) {
	cases := map[string][]string{
		"no listeners":   {"replay", corpusPath},
		"missing events": {"replay", "--module", guest("echo"), "/nonexistent/events.ndjson"},
		"bad flag":       {"replay", "--bogus"},
		"missing config": {"replay", "--config", "/nonexistent/tokenwire.yaml"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, nil, args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, errOut)
			}
			if errOut == "" {
				t.Error("stderr is empty, want an explanation")
			}
		})
	}
}

func TestReplayAuditSETs(t *testing.T) {
	key := writeRSAKey(t)
	const issuer = "https://issuer.example.com"
	code, out, errOut := runCLI(t, nil, "replay", "--module", auditModule, "--key", key, "--issuer", issuer, corpusPath)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	tokens := lines(out)
	if want := countLines(t, corpusPath); len(tokens) != want {
		t.Fatalf("%d SETs, want %d", len(tokens), want)
	}
	jwks := publicJWKS(t, key)
	checkSETs(t, tokens, jwks, issuer)
}

// publicJWKS returns a JWK set with the public half of the PEM key at path,
// built with the standard library only.
func publicJWKS(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.(*rsa.PrivateKey).PublicKey
	enc := base64.RawURLEncoding
	n := enc.EncodeToString(pub.N.Bytes())
	e := enc.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	// The kid is the RFC 7638 thumbprint: SHA-256 of the required members
	// in lexicographic order, with no whitespace.
	thumbprint := sha256.Sum256([]byte(`{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`))
	set := map[string]any{"keys": []map[string]string{{
		"kty": "RSA",
		"kid": enc.EncodeToString(thumbprint[:]),
		"n":   n,
		"e":   e,
	}}}
	js, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// checkSETs verifies each token against jwks and checks the SET claims.
func checkSETs(t *testing.T, tokens []string, jwks []byte, issuer string) {
	t.Helper()
	jtis := map[string]bool{}
	for i, token := range tokens {
		header, payload, err := setverify.Verify(token, jwks)
		if err != nil {
			t.Fatalf("SET %d does not verify: %v", i, err)
		}
		if header["typ"] != "secevent+jwt" || header["alg"] != "RS256" {
			t.Errorf("SET %d header = %v, want typ secevent+jwt and alg RS256", i, header)
		}
		if payload["iss"] != issuer {
			t.Errorf("SET %d iss = %v, want %s", i, payload["iss"], issuer)
		}
		if _, ok := payload["exp"]; ok {
			t.Errorf("SET %d has exp", i)
		}
		for _, claim := range []string{"iat", "jti", "events", "sub_id", "txn"} {
			if _, ok := payload[claim]; !ok {
				t.Errorf("SET %d has no %s", i, claim)
			}
		}
		jti, _ := payload["jti"].(string)
		if jtis[jti] {
			t.Errorf("SET %d repeats jti %q", i, jti)
		}
		jtis[jti] = true
	}
}

// opensslVerify checks an RS256 token with the openssl command, a verifier
// that shares no code with tokenwire or jwx.
func opensslVerify(t *testing.T, token string, jwks []byte) {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	var set struct {
		Keys []struct{ N, E string } `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("parse JWKS: %v %s", err, jwks)
	}

	n, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].N)
	e, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].E)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	parts := strings.Split(token, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"pub.pem":   pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"input.txt": []byte(parts[0] + "." + parts[1]),
		"sig.bin":   sig,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(openssl, "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "input.txt")
	cmd.Dir = dir
	output, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(output), "Verified OK") {
		t.Errorf("openssl does not verify the SET: %v: %s", err, output)
	}
}

var listeningPattern = regexp.MustCompile(`msg=listening address=(\S+)`)

// startDaemon runs "tokenwire run" with args on a free port and returns its
// base URL, its stdout and a function that stops it and returns the exit
// status.
func startDaemon(t *testing.T, args ...string) (string, *syncBuffer, *syncBuffer, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"run", "--listen", "127.0.0.1:0"}, args...), nil, stdout, stderr)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := listeningPattern.FindStringSubmatch(stderr.String()); m != nil {
			stop := func() int {
				cancel()
				select {
				case code := <-done:
					return code
				case <-time.After(30 * time.Second):
					t.Fatal("daemon did not stop within 30s")
					return -1
				}
			}
			t.Cleanup(func() { cancel() })
			return "http://" + m[1], stdout, stderr, stop
		}
		select {
		case code := <-done:
			t.Fatalf("daemon exited with %d before listening:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not listening after 60s:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunDefaultSignsCorpus(t *testing.T) {
	base, stdout, stderr, stop := startDaemon(t)

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz = %d, want 200", resp.StatusCode)
	}

	corpus, err := os.ReadFile(corpusPath)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Post(base+"/v1/events", "application/x-ndjson", bytes.NewReader(corpus))
	if err != nil {
		t.Fatal(err)
	}
	var accepted struct{ IDs []string }
	if err := json.NewDecoder(resp.Body).Decode(&accepted); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := countLines(t, corpusPath)
	if resp.StatusCode != http.StatusAccepted || len(accepted.IDs) != want {
		t.Fatalf("POST = %d with %d ids, want 202 with %d", resp.StatusCode, len(accepted.IDs), want)
	}

	deadline := time.Now().Add(60 * time.Second)
	for len(lines(stdout.String())) < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	tokens := lines(stdout.String())
	if len(tokens) != want {
		t.Fatalf("daemon printed %d SETs, want %d; stderr:\n%s", len(tokens), want, stderr.String())
	}

	resp, err = http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkSETs(t, tokens, jwks, base)
	opensslVerify(t, tokens[0], jwks)
	opensslVerify(t, tokens[len(tokens)-1], jwks)

	if code := stop(); code != exitOK {
		t.Errorf("exit %d after stop, want 0; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "ephemeral") {
		t.Error("no warning about the ephemeral key in the log")
	}
}

func TestRunRejectsBadRequests(t *testing.T) {
	base, _, _, stop := startDaemon(t)
	big := `{"type":"id_token.issued","claims":{"iss":"https://i.example","pad":"` + strings.Repeat("x", 300<<10) + `"}}`
	cases := []struct {
		name   string
		body   string
		status int
		detail string
	}{
		{"unknown type", `{"type":"id_token.isued","claims":{"iss":"https://i.example"}}`, 400, "id_token.isued"},
		{"not JSON", "hello", 400, "line 1"},
		{"empty", "", 400, "no event"},
		{"bad second line", "{\"type\":\"id_token.issued\",\"claims\":{\"iss\":\"https://i.example\"}}\n{\"type\":1}\n", 400, "line 2"},
		{"event too large", big, 413, "max_event_bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Post(base+"/v1/events", "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d; body %s", resp.StatusCode, c.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
			if !strings.Contains(string(body), c.detail) {
				t.Errorf("body does not contain %q: %s", c.detail, body)
			}
		})
	}
	if code := stop(); code != exitOK {
		t.Errorf("exit %d after stop, want 0", code)
	}
}

func TestRunWithConfig(t *testing.T) {
	dir := t.TempDir()
	key := writeRSAKey(t)
	out := filepath.Join(dir, "filtered.ndjson")
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cfgText := fmt.Sprintf(`issuer: https://issuer.example.com
signing:
  key_file: %s
sinks:
  - name: file
    type: file
    path: %s
    fsync: always
listeners:
  - name: filter
    module: %s
    events: [id_token.issued]
    config:
      claims: [sub, iat]
      sink: file
    sinks: [file]
`, key, out, abs("../../examples/claimfilter/claimfilter.wasm"))
	cfgPath := filepath.Join(dir, "tokenwire.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}

	code, checkOut, checkErr := runCLI(t, nil, "check", "--config", cfgPath)
	if code != exitOK {
		t.Fatalf("check: exit %d, stderr:\n%s", code, checkErr)
	}
	for _, want := range []string{"listener filter", "abi          v1", "tw_on_event", "tokenwire.event_read", "memory_limit 64MiB"} {
		if !strings.Contains(checkOut, want) {
			t.Errorf("check output does not contain %q:\n%s", want, checkOut)
		}
	}

	base, _, stderr, stop := startDaemon(t, "--config", cfgPath)
	if status := postFile(t, base, alicePath, ""); status != http.StatusAccepted {
		t.Fatalf("POST = %d, want 202", status)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), "{\"sub\":\"alice\",\"iat\":1523304728}\n"; got != want {
		t.Errorf("file sink = %q, want %q", got, want)
	}
}

func TestCheckReportsBadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokenwire.yaml")
	if err := os.WriteFile(path, []byte("listeners:\n  - name: a\n    modul: a.wasm\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, nil, "check", "--config", path)
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	sc := bufio.NewScanner(strings.NewReader(errOut))
	sc.Scan()
	if line := sc.Text(); !strings.Contains(line, path+":3: invalid config:") || !strings.Contains(line, `"modul"`) {
		t.Errorf("error = %q, want file, line and key", line)
	}
}

func TestReplayModuleConfig(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "replay",
		"--module", "../../examples/claimfilter/claimfilter.wasm",
		"--module-config", `{"claims":["sub","iat"]}`,
		"../../testdata/events/alice.json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if out != "{\"sub\":\"alice\",\"iat\":1523304728}\n" {
		t.Errorf("stdout = %q", out)
	}

	code, _, errOut = runCLI(t, nil, "replay", "--module", guest("echo"), "--module-config", "[1]", corpusPath)
	if code != exitUsage || !strings.Contains(errOut, "--module-config") {
		t.Errorf("bad --module-config: exit %d, stderr %q", code, errOut)
	}
}

func TestReplayNoBackoff(t *testing.T) {
	// replay delivers every event to every listener: a failing listener is
	// called again each time rather than skipped.
	_, _, errOut := runCLI(t, nil, "replay", "--module", guest("trap"), corpusPath)
	if strings.Contains(errOut, "backoff") {
		t.Errorf("replay skipped events by backoff:\n%s", errOut)
	}
	if got := strings.Count(errOut, "corpus.ndjson: event"); got != countLines(t, corpusPath) {
		t.Errorf("%d traps reported, want one per event", got)
	}
}

func TestHelpExitsZero(t *testing.T) {
	cases := [][]string{
		{"run"}, {"replay"}, {"check"}, {"status"}, {"fuzz"}, {"version"},
		{"dlq"}, {"dlq", "list"}, {"dlq", "replay"}, {"dlq", "drop"},
	}
	for _, args := range cases {
		name := strings.Join(args, " ")
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, append(args, "--help")...)
			if code != exitOK {
				t.Errorf("%s --help: exit %d, want 0: %s", name, code, stderr)
			}
			usage := stdout + stderr
			if !strings.Contains(usage, "Usage: tokenwire "+name) {
				t.Errorf("%s --help lacks its usage line:\n%s", name, usage)
			}
			if len(args) == 2 && strings.Contains(usage, name+" list|") {
				t.Errorf("%s --help repeats the action:\n%s", name, usage)
			}
		})
	}
}

func TestRunRequiresKeyWithConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokenwire.yaml")
	cfg := "issuer: https://issuer.example.com\nlisteners:\n  - name: audit\n    module: " + auditModule + "\n    sign: true\n"
	abs, err := filepath.Abs(auditModule)
	if err != nil {
		t.Fatal(err)
	}
	cfg = strings.Replace(cfg, auditModule, abs, 1)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"run", "check"} {
		code, _, errOut := runCLI(t, nil, cmd, "--config", path, "--listen", "127.0.0.1:0")
		if cmd == "check" {
			code, _, errOut = runCLI(t, nil, cmd, "--config", path)
		}
		if code != exitUsage || !strings.Contains(errOut, `listener "audit" is granted sign but no signing key is configured`) {
			t.Errorf("%s: exit %d, stderr %q; want a missing-key error", cmd, code, errOut)
		}
	}
}

func TestRunAuthToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	echo, err := filepath.Abs(guest("echo"))
	if err != nil {
		t.Fatal(err)
	}
	listeners := "sinks:\n  - {name: stdout, type: stdout}\nlisteners:\n  - {name: echo, module: " + echo + ", sinks: [stdout]}\n"

	short := write("short.yaml", "intake:\n  auth_token_file: short.token\n"+listeners)
	write("short.token", "secret\n")
	code, _, errOut := runCLI(t, nil, "run", "--config", short, "--listen", "127.0.0.1:0")
	if code != exitUsage || !strings.Contains(errOut, "at least 16 random bytes") {
		t.Errorf("short token: exit %d, stderr %q", code, errOut)
	}

	good := write("good.yaml", "intake:\n  auth_token_file: good.token\n"+listeners)
	write("good.token", "0123456789abcdef0123456789abcdef\n")
	base, stdout, _, stop := startDaemon(t, "--config", good)
	if status := postFile(t, base, alicePath, ""); status != http.StatusUnauthorized {
		t.Errorf("POST without token = %d, want 401", status)
	}
	if status := postFile(t, base, alicePath, "0123456789abcdef0123456789abcdef"); status != http.StatusAccepted {
		t.Errorf("POST with token = %d, want 202", status)
	}
	if code := stop(); code != exitOK {
		t.Errorf("exit %d", code)
	}
	if got := lines(stdout.String()); len(got) != 1 {
		t.Errorf("daemon printed %d events, want 1", len(got))
	}
}

func TestCheckIntakeFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"missing auth token": "intake:\n  auth_token_file: nothere.token\n",
		"missing token keys": "intake:\n  token_keys_file: nothere.jwks\n",
		"bad listen address": "intake:\n  listen: nonsense\n",
		"short auth token":   "intake:\n  auth_token_file: short.token\n",
	}
	if err := os.WriteFile(filepath.Join(dir, "short.token"), []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runCLI(t, nil, "check", "--config", path)
			if code != exitUsage || !strings.Contains(errOut, "intake.") {
				t.Errorf("exit %d, stderr %q; want an intake error", code, errOut)
			}
		})
	}
}

func TestRunStoppedDuringStartup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"run", "--listen", "127.0.0.1:0"}, nil, &stdout, &stderr)
	if code != exitOK {
		t.Errorf("exit %d, want 0 for a stop during startup; stderr:\n%s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "failed to start") {
		t.Errorf("a stop during startup is reported as a listener failure:\n%s", stderr.String())
	}
}

func TestExampleConfigChecks(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "check", "--config", "../../examples/configs/tokenwire.yaml")
	if code != exitOK {
		t.Fatalf("check of the example config: exit %d, stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"listener audit", "listener sign-ins", "RS256"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output does not contain %q", want)
		}
	}
}

// postFile posts the contents of path to the daemon's event endpoint, with
// token as a bearer token unless it is empty, and returns the status code.
func postFile(t *testing.T, base, path, token string) int {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/v1/events", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestReplayEventIssuer(t *testing.T) {
	const event = `{"id":"no-iss","type":"id_token.issued","claims":{"sub":"alice","iat":1523304728}}` + "\n"

	// Without --issuer the placeholder issuer must not become the token's.
	code, out, errOut := runCLI(t, strings.NewReader(event), "replay", "--module", guest("echo"), "-")
	if code != exitFailure || out != "" || !strings.Contains(errOut, `"issuer"`) {
		t.Errorf("no issuer: exit %d, stdout %q, stderr %q; want the event rejected for its missing issuer", code, out, errOut)
	}

	// --issuer names the issuer of events that carry none.
	code, out, errOut = runCLI(t, strings.NewReader(event), "replay", "--module", guest("echo"), "--issuer", "https://op.example.com", "-")
	if code != exitOK || !strings.Contains(out, `"issuer":"https://op.example.com"`) {
		t.Errorf("--issuer: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestReplayModuleNameClash(t *testing.T) {
	dir := t.TempDir()
	echo, err := filepath.Abs(guest("echo"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tokenwire.yaml")
	text := "sinks:\n  - {name: stdout, type: stdout}\nlisteners:\n  - name: echo\n    module: " + echo + "\n    sinks: [stdout]\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, nil, "replay", "--config", path, "--module", guest("echo"), alicePath)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{`adds a listener named "echo"`, "tokenwire.yaml:4 already defines", "rename the module file"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, stderr)
		}
	}
}
