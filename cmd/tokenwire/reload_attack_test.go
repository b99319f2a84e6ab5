//go:build unix

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/internal/server"
	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
)

// watchedRuntime is a runtime for the config file in dir with a reloader
// watching it, as "tokenwire run --config" sets them up.
type watchedRuntime struct {
	t    *testing.T
	dir  string
	path string
	rt   *twruntime.Runtime
	logs *syncBuffer
}

// startWatched writes text, unless empty, as dir/tokenwire.yaml, starts a
// runtime for that file and runs a reloader with file watching and a 50ms
// debounce until the test ends.
func startWatched(t *testing.T, dir, text string) *watchedRuntime {
	t.Helper()
	w := &watchedRuntime{t: t, dir: dir, path: filepath.Join(dir, "tokenwire.yaml"), logs: &syncBuffer{}}
	if text != "" {
		w.write("tokenwire.yaml", []byte(text))
	}
	cfg, err := config.Load(w.path)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.rt, err = twruntime.New(context.Background(), cfg, twruntime.WithLogger(logger), twruntime.WithStdout(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rl := newReloader(w.path, fileDigest(w.path), w.rt, cfg, logger)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rl.run(ctx, nil, true, 50*time.Millisecond)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = w.rt.Close(context.Background())
	})
	// Give the watcher time to add its directories.
	time.Sleep(200 * time.Millisecond)
	return w
}

func (w *watchedRuntime) write(name string, data []byte) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, name), data, 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// waitFor polls the status until ok accepts it or 5 seconds pass, and
// reports whether it did.
func (w *watchedRuntime) waitFor(ok func(twruntime.Status) bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ok(w.rt.Status()) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// attackConfig is a config with the listener "tagged" on module; extra is
// appended to the listeners.
func attackConfig(module, extra string) string {
	return `sinks:
  - {name: stdout, type: stdout}
listeners:
  - name: tagged
    module: ` + module + `
    sinks: [stdout]
` + extra
}

func copyGuest(t *testing.T, name, to string) {
	t.Helper()
	data, err := os.ReadFile(guest(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloaderRetriesWhenModuleAppears writes a config that adds a
// listener before its module file exists, as a deploy that copies the
// config first does. The reload fails; when the module file then appears,
// the daemon must reload again. It watches only the modules of the
// running listeners, so the new module's arrival goes unnoticed and the
// config never goes live until some other change or SIGHUP.
func TestReloaderRetriesWhenModuleAppears(t *testing.T) {
	dir := t.TempDir()
	copyGuest(t, "echo", filepath.Join(dir, "echo.wasm"))
	w := startWatched(t, dir, attackConfig("echo.wasm", ""))

	late := "  - name: late\n    module: late.wasm\n    sinks: [stdout]\n"
	w.write("tokenwire.yaml", []byte(attackConfig("echo.wasm", late)))
	if !w.waitFor(func(st twruntime.Status) bool {
		return st.LastFailedReload != nil && strings.Contains(st.LastFailedReload.Error, "late.wasm not found")
	}) {
		t.Fatalf("the config naming a missing module was not tried:\n%s", w.logs.String())
	}

	copyGuest(t, "echo", filepath.Join(dir, "late.wasm.tmp"))
	if err := os.Rename(filepath.Join(dir, "late.wasm.tmp"), filepath.Join(dir, "late.wasm")); err != nil {
		t.Fatal(err)
	}
	if !w.waitFor(func(st twruntime.Status) bool { return st.Generation == 2 }) {
		st := w.rt.Status()
		t.Fatalf("late.wasm appeared but the daemon did not reload: generation %d, %d listeners", st.Generation, len(st.Listeners))
	}
}

// TestReloaderChangeDuringReload rewrites the config while a reload of
// the previous version is still building. The reloader records the
// files' digests after the reload returns, so it takes the newer
// contents as loaded and never reloads them. The key file is a FIFO so
// the test can hold the first reload in the middle of its build.
func TestReloaderChangeDuringReload(t *testing.T) {
	dir := t.TempDir()
	copyGuest(t, "echo", filepath.Join(dir, "echo.wasm"))
	copyGuest(t, "minimal", filepath.Join(dir, "minimal.wasm"))
	fifo := filepath.Join(dir, "key.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	w := startWatched(t, dir, attackConfig("echo.wasm", ""))
	signing := "issuer: https://issuer.example.com\nsigning:\n  key_file: key.pem\n"

	// Version 2 adds the key; its reload blocks reading the FIFO.
	w.write("tokenwire.yaml", []byte(attackConfig("echo.wasm", "")+signing))
	writer := openFIFOWriter(t, fifo, time.Now().Add(5*time.Second))
	if writer == nil {
		t.Fatal("the reload of version 2 never opened the key file")
	}
	t.Cleanup(func() { _ = writer.Close() })

	// Version 3, written while version 2 builds, swaps the module.
	w.write("tokenwire.yaml", []byte(attackConfig("minimal.wasm", "")+signing))
	time.Sleep(100 * time.Millisecond)
	key := ecKeyPEM(t)
	if _, err := writer.Write(key); err != nil {
		t.Fatal(err)
	}
	writer.Close()
	if !w.waitFor(func(st twruntime.Status) bool { return st.Generation >= 2 }) {
		t.Fatalf("version 2 did not go live:\n%s", w.logs.String())
	}

	// Later reloads read the same key from a regular file.
	w.write("key.pem.tmp", key)
	if err := os.Rename(filepath.Join(dir, "key.pem.tmp"), fifo); err != nil {
		t.Fatal(err)
	}
	if !w.waitFor(func(st twruntime.Status) bool {
		return len(st.Listeners) == 1 && strings.HasSuffix(st.Listeners[0].Module, "minimal.wasm")
	}) {
		st := w.rt.Status()
		t.Fatalf("version 3 of the config, written during a reload, never went live: generation %d runs %s\n%s", st.Generation, st.Listeners[0].Module, w.logs.String())
	}
}

// openFIFOWriter opens the FIFO at path for writing once a reader has
// opened it, or returns nil at deadline.
func openFIFOWriter(t *testing.T, path string, deadline time.Time) *os.File {
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			return f
		}
		if !errors.Is(err, syscall.ENXIO) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ecKeyPEM(t *testing.T) []byte {
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

// TestCheckAgainstNamesItsFlag points check --against at a closed port
// and at an address without a scheme. The errors must name
// the flag the user passed, --against, not status's --addr.
func TestCheckAgainstNamesItsFlag(t *testing.T) {
	dir := t.TempDir()
	copyGuest(t, "echo", filepath.Join(dir, "echo.wasm"))
	path := filepath.Join(dir, "tokenwire.yaml")
	if err := os.WriteFile(path, []byte(attackConfig("echo.wasm", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	for _, against := range []string{closed, strings.TrimPrefix(closed, "http://")} {
		t.Run(against, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, "check", "--config", path, "--against", against)
			if code == exitOK {
				t.Fatal("check --against a closed port succeeded")
			}
			if !strings.Contains(stderr, "--against") || strings.Contains(stderr, "--addr") {
				t.Fatalf("the error does not tell to fix --against:\n%s", stderr)
			}
		})
	}
}

// TestCheckAgainstNonTokenwireServer points check --against at a server
// that responds to every request with 200 and an empty JSON object, as
// many services on a wrong port do. check must report that the address
// serves no tokenwire status, instead of printing a plan against
// generation 0.
func TestCheckAgainstNonTokenwireServer(t *testing.T) {
	dir := t.TempDir()
	copyGuest(t, "echo", filepath.Join(dir, "echo.wasm"))
	path := filepath.Join(dir, "tokenwire.yaml")
	if err := os.WriteFile(path, []byte(attackConfig("echo.wasm", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	}))
	defer other.Close()

	code, stdout, stderr := runCLI(t, nil, "check", "--config", path, "--against", other.URL)
	if code == exitOK {
		t.Fatalf("check --against a server that is not tokenwire succeeded:\n%s", stdout)
	}
	mustContainAll(t, "stderr", stderr, other.URL)
}

// TestCheckAgainstUnchangedListenerConfig compares a config with the
// daemon running that same config, whose listener has a config mapping
// and non-default limits. Every listener must be reported as kept.
func TestCheckAgainstUnchangedListenerConfig(t *testing.T) {
	dir := t.TempDir()
	copyGuest(t, "echo", filepath.Join(dir, "echo.wasm"))
	path := filepath.Join(dir, "tokenwire.yaml")
	text := attackConfig("echo.wasm", "") + `    config: {audience: [a, b], retries: 3}
    memory_limit: 2MiB
    budgets: {emit_bytes: 64KiB, log_lines: 5}
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, rt := startFromFile(t, path, twruntime.WithStdout(io.Discard))
	opts, err := intakeOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	daemon := httptest.NewServer(server.New(rt, cfg.Intake, opts, slog.New(slog.NewTextHandler(io.Discard, nil))).Handler())
	defer daemon.Close()

	code, stdout, stderr := runCLI(t, nil, "check", "--config", path, "--against", daemon.URL)
	if code != exitOK {
		t.Fatalf("check --against: exit %d\n%s", code, stderr)
	}
	mustContainAll(t, "plan", stdout, `listener "tagged" kept: unchanged`)
}

// TestReloaderConfigMapSwap lays the config and module out as Kubernetes
// mounts a ConfigMap: each file is a symbolic link into "..data", itself
// a link to a timestamped directory, and an update swaps "..data" by
// rename. The swap must reload the new module and config.
func TestReloaderConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	publish := func(version, module, extra string) {
		t.Helper()
		data := filepath.Join(dir, version)
		if err := os.Mkdir(data, 0o700); err != nil {
			t.Fatal(err)
		}
		copyGuest(t, module, filepath.Join(data, "module.wasm"))
		if err := os.WriteFile(filepath.Join(data, "tokenwire.yaml"), []byte(attackConfig("module.wasm", extra)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(version, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	publish("..v1", "echo", "")
	for _, name := range []string{"tokenwire.yaml", "module.wasm"} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	w := startWatched(t, dir, "")
	first := w.rt.Status().Listeners[0].ModuleInfo.SHA256

	// The module alone changes.
	publish("..v2", "minimal", "")
	if err := os.RemoveAll(filepath.Join(dir, "..v1")); err != nil {
		t.Fatal(err)
	}
	if !w.waitFor(func(st twruntime.Status) bool { return st.Listeners[0].ModuleInfo.SHA256 != first }) {
		t.Fatalf("the swap of ..data to a new module was not reloaded:\n%s", w.logs.String())
	}

	// Then the config alone changes.
	publish("..v3", "minimal", "  - name: second\n    module: module.wasm\n    sinks: [stdout]\n")
	if err := os.RemoveAll(filepath.Join(dir, "..v2")); err != nil {
		t.Fatal(err)
	}
	if !w.waitFor(func(st twruntime.Status) bool { return len(st.Listeners) == 2 }) {
		t.Fatalf("the swap of ..data to a new config was not reloaded:\n%s", w.logs.String())
	}
}

// TestRunSurvivesEarlySIGHUP sends SIGHUP while "tokenwire run --config"
// is still compiling its listeners, as a config tool that reloads right
// after a start does. Go's default action for SIGHUP ends the process,
// and the reloader subscribes to it only once the runtime has started,
// so the daemon must handle SIGHUP from its start instead.
func TestRunSurvivesEarlySIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	audit, err := filepath.Abs("../../examples/audit/audit.wasm")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tokenwire.yaml")
	text := "cache_dir: \"off\"\n" + strings.Replace(attackConfig(audit, ""), "    sinks: [stdout]\n", "    sinks: [stdout]\n    config: {sink: stdout}\n", 1)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	stderr := &syncBuffer{}
	cmd := exec.Command(bin, "run", "--config", path, "--listen", "127.0.0.1:0")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	// Let the Go runtime start, then signal while the module compiles.
	time.Sleep(150 * time.Millisecond)
	if listeningPattern.MatchString(stderr.String()) {
		t.Skip("the daemon started before the signal; this machine compiles too fast for the test")
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !listeningPattern.MatchString(stderr.String()) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the daemon exited on a SIGHUP during startup: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not start within 60s:\n%s", stderr.String())
		}
	}
}

// TestAdminReloadOutlivesClient calls POST /v1/admin/reload with a client
// that gives up after 200ms, while the reload waits for its key file (a
// FIFO the test holds). The server accepted the reload, so the reload
// must finish and go live. Ending it with the request would leave a
// failed reload whose only error is "context canceled", for a valid
// config.
func TestAdminReloadOutlivesClient(t *testing.T) {
	dir := t.TempDir()
	copyGuest(t, "echo", filepath.Join(dir, "echo.wasm"))
	copyGuest(t, "minimal", filepath.Join(dir, "minimal.wasm"))
	fifo := filepath.Join(dir, "key.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	path := filepath.Join(dir, "tokenwire.yaml")
	if err := os.WriteFile(path, []byte(attackConfig("echo.wasm", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg, rt := startFromFile(t, path, twruntime.WithStdout(io.Discard), twruntime.WithLogger(logger))
	rl := newReloader(path, fileDigest(path), rt, cfg, logger)
	opts, err := intakeOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(rt, cfg.Intake, opts, logger, server.WithAdmin([]byte(adminTokenForTest), rl.reload))
	daemon := httptest.NewServer(srv.Handler())
	defer srv.Drain(context.Background())
	defer daemon.Close()

	// The candidate adds a key and a listener that starts after the key
	// is read.
	extra := "  - name: second\n    module: minimal.wasm\n    sinks: [stdout]\n"
	candidate := "issuer: https://issuer.example.com\nsigning:\n  key_file: key.pem\n" + attackConfig("echo.wasm", extra)
	if err := os.WriteFile(path, []byte(candidate), 0o600); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, daemon.URL+"/v1/admin/reload", nil)
	req.Header.Set("Authorization", "Bearer "+adminTokenForTest)
	client := &http.Client{Timeout: 200 * time.Millisecond}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the reload answered %s before its key file was written", resp.Status)
	}

	writer := openFIFOWriter(t, fifo, time.Now().Add(5*time.Second))
	if writer == nil {
		t.Fatal("the reload never opened the key file")
	}
	if _, err := writer.Write(ecKeyPEM(t)); err != nil {
		t.Fatal(err)
	}
	writer.Close()

	deadline := time.Now().Add(10 * time.Second)
	for rt.Status().LastReload == nil {
		if time.Now().After(deadline) {
			t.Fatal("the reload did not end within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := rt.Status(); !st.LastReload.OK {
		t.Fatalf("the reload ended with the request: %s", st.LastReload.Error)
	}
}

// TestReloaderModuleDirectorySwap deploys a new module by swapping the
// directory that holds it, as release tools do: a "current" symbolic
// link moved from one release directory to the next, or a directory
// renamed into place. The module's path in the config stays the same and
// its contents change, so the daemon must reload. Only a swapped name
// that starts with ".." (the Kubernetes layout) counts as a change now.
func TestReloaderModuleDirectorySwap(t *testing.T) {
	release := func(t *testing.T, dir, name, guest string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		copyGuest(t, guest, filepath.Join(dir, name, "module.wasm"))
	}
	cases := []struct {
		name   string
		module string
		setup  func(t *testing.T, dir string)
		swap   func(t *testing.T, dir string)
	}{
		{
			name:   "symlink",
			module: "current/module.wasm",
			setup: func(t *testing.T, dir string) {
				release(t, dir, "releases/1", "echo")
				if err := os.Symlink("releases/1", filepath.Join(dir, "current")); err != nil {
					t.Fatal(err)
				}
			},
			swap: func(t *testing.T, dir string) {
				release(t, dir, "releases/2", "minimal")
				if err := os.Symlink("releases/2", filepath.Join(dir, "current.tmp")); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(filepath.Join(dir, "current.tmp"), filepath.Join(dir, "current")); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:   "rename",
			module: "modules/module.wasm",
			setup: func(t *testing.T, dir string) {
				release(t, dir, "modules", "echo")
			},
			swap: func(t *testing.T, dir string) {
				release(t, dir, "modules.new", "minimal")
				if err := os.Rename(filepath.Join(dir, "modules"), filepath.Join(dir, "modules.old")); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(filepath.Join(dir, "modules.new"), filepath.Join(dir, "modules")); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(t, dir)
			w := startWatched(t, dir, attackConfig(c.module, ""))
			first := w.rt.Status().Listeners[0].ModuleInfo.SHA256

			c.swap(t, dir)
			if !w.waitFor(func(st twruntime.Status) bool { return st.Listeners[0].ModuleInfo.SHA256 != first }) {
				t.Fatalf("the module directory was swapped but the daemon did not reload:\n%s", w.logs.String())
			}

			// The new directory is watched too: a module written in place
			// there reloads.
			second := w.rt.Status().Listeners[0].ModuleInfo.SHA256
			copyGuest(t, "tagged", filepath.Join(dir, c.module))
			if !w.waitFor(func(st twruntime.Status) bool { return st.Listeners[0].ModuleInfo.SHA256 != second }) {
				t.Fatalf("the module in the swapped-in directory changed but the daemon did not reload:\n%s", w.logs.String())
			}
		})
	}
}

// TestReloadIssuerChange reloads a config whose top-level issuer changed.
// The signer takes the new issuer at the swap, but the intake's default
// issuer for events that name none was fixed at start, so listeners get
// events from the old issuer and sign SETs as the new one. The daemon
// must apply the new issuer to intake too, or log that it needs a
// restart, as it does for the intake section.
func TestReloadIssuerChange(t *testing.T) {
	dir := t.TempDir()
	copyGuest(t, "echo", filepath.Join(dir, "echo.wasm"))
	path := filepath.Join(dir, "tokenwire.yaml")
	out := filepath.Join(dir, "out.txt")
	withIssuer := func(issuer string) []byte {
		return []byte("issuer: " + issuer + "\n" + strings.Replace(attackConfig("echo.wasm", ""), "{name: stdout, type: stdout}", "{name: stdout, type: file, path: out.txt}", 1))
	}
	if err := os.WriteFile(path, withIssuer("https://old.example"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	cfg, rt := startFromFile(t, path, twruntime.WithLogger(logger))
	opts, err := intakeOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(rt, cfg.Intake, opts, logger)
	daemon := httptest.NewServer(srv.Handler())
	defer srv.Drain(context.Background())
	defer daemon.Close()
	rl := newReloader(path, fileDigest(path), rt, cfg, logger)
	rl.setIntake = srv.SetIntake

	if err := os.WriteFile(path, withIssuer("https://new.example"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rl.reload(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	body := `{"id":"e1","type":"id_token.issued","claims":{"sub":"alice","iat":1523304728}}`
	resp, err := http.Post(daemon.URL+"/v1/events", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/events: %s", resp.Status)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(out)
		if len(data) > 0 {
			if !strings.Contains(string(data), "https://new.example") {
				t.Fatalf("after the issuer changed to https://new.example, without a warning, the listener got:\n%s", data)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the event never reached the sink")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReloadTurnsWatchOff reloads a config that sets reload.watch to
// false. The reloader keeps the watch and debounce it started with, so
// the daemon must stop watching, or log that the reload section takes
// effect only on restart, as it does for intake.
func TestReloadTurnsWatchOff(t *testing.T) {
	dir := t.TempDir()
	copyGuest(t, "echo", filepath.Join(dir, "echo.wasm"))
	copyGuest(t, "minimal", filepath.Join(dir, "minimal.wasm"))
	w := startWatched(t, dir, attackConfig("echo.wasm", ""))

	w.write("tokenwire.yaml", []byte("reload: {watch: false}\n"+attackConfig("echo.wasm", "")))
	if !w.waitFor(func(st twruntime.Status) bool { return st.Generation == 2 }) {
		t.Fatalf("the config change was not reloaded:\n%s", w.logs.String())
	}
	if strings.Contains(w.logs.String(), "only on restart") && strings.Contains(w.logs.String(), "reload") {
		return // the daemon logs that the change needs a restart
	}
	w.write("tokenwire.yaml", []byte("reload: {watch: false}\n"+attackConfig("minimal.wasm", "")))
	if w.waitFor(func(st twruntime.Status) bool { return st.Generation == 3 }) {
		t.Fatalf("with reload.watch false and no warning, a file change still reloaded:\n%s", w.logs.String())
	}
}

// TestReloaderChangeDuringStart rewrites the config after the daemon
// loaded it and before the reloader took its first digests, as happens
// when the file changes while the listeners compile at start. The
// reloader then takes the new contents as loaded and never applies them.
func TestReloaderChangeDuringStart(t *testing.T) {
	dir := t.TempDir()
	copyGuest(t, "echo", filepath.Join(dir, "echo.wasm"))
	copyGuest(t, "minimal", filepath.Join(dir, "minimal.wasm"))
	path := filepath.Join(dir, "tokenwire.yaml")
	if err := os.WriteFile(path, []byte(attackConfig("echo.wasm", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, rt := startFromFile(t, path, twruntime.WithStdout(io.Discard))

	if err := os.WriteFile(path, []byte(attackConfig("minimal.wasm", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	rl := newReloader(path, digestOf([]byte(attackConfig("echo.wasm", "")), nil), rt, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if changed := rl.changed(); len(changed) == 0 {
		t.Fatal("the config changed after it was loaded, but the reloader sees no change to reload")
	}
}

// startFromFile loads the config file at path and starts a runtime for it
// with opts. The runtime is closed when the test ends.
func startFromFile(t *testing.T, path string, opts ...twruntime.Option) (*config.Config, *twruntime.Runtime) {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := twruntime.New(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return cfg, rt
}
