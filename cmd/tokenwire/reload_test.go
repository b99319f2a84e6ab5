package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	twruntime "github.com/tokenwire/tokenwire/runtime"
)

// swapBound is how long the end-to-end test waits for a change on disk to
// go live. The documented bound is reload.debounce plus the time to load
// the changed listeners: well under a second for these guests.
const swapBound = 15 * time.Second

// buildBinary builds the tokenwire command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tokenwire")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// reloadFixture is a config directory for the end-to-end reload test.
type reloadFixture struct {
	t       *testing.T
	dir     string
	config  string
	out     string
	tokenFP string
}

func (f *reloadFixture) write(name string, data []byte) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), data, 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// configFor returns the config text with the listener on module.
func (f *reloadFixture) configFor(module string) string {
	return fmt.Sprintf(`sinks:
  - {name: stdout, type: file, path: %s, fsync: always}
reload:
  debounce: 100ms
admin:
  token_file: admin.token
listeners:
  - name: tagged
    module: %s
    sinks: [stdout]
`, f.out, module)
}

// status reads the daemon's status with the admin token.
func (f *reloadFixture) status(base string) twruntime.Status {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+adminTokenForTest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st twruntime.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		f.t.Fatal(err)
	}
	return st
}

// waitStatus polls the status until ok accepts it, and returns how long
// that took.
func (f *reloadFixture) waitStatus(base, what string, ok func(twruntime.Status) bool) time.Duration {
	f.t.Helper()
	start := time.Now()
	for {
		st := f.status(base)
		if ok(st) {
			return time.Since(start)
		}
		if time.Since(start) > swapBound {
			data, _ := json.MarshalIndent(st, "", "  ")
			f.t.Fatalf("%s: not seen within %s; status:\n%s", what, swapBound, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// handledBy posts an event and returns the tag of the build that wrote it
// to the sink file.
func (f *reloadFixture) handledBy(base, id string) string {
	f.t.Helper()
	body := `{"id":"` + id + `","type":"id_token.issued","claims":{"iss":"https://issuer.example.com","sub":"alice","iat":1523304728}}`
	resp, err := http.Post(base+"/v1/events", "application/json", strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		f.t.Fatalf("POST event %s: %d", id, resp.StatusCode)
	}
	deadline := time.Now().Add(swapBound)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(f.out)
		for _, line := range strings.Split(string(data), "\n") {
			if tag, rest, ok := strings.Cut(line, " "); ok && strings.Contains(rest, `"id":"`+id+`"`) {
				return tag
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("event %s never reached the sink", id)
	return ""
}

const adminTokenForTest = "admin-token-for-the-reload-test"

// TestRunReloadsEndToEnd runs the real binary with a config file and
// changes it the ways operators do: rewriting the config in place and by
// rename, breaking the module, replacing a module file, SIGHUP and the
// admin endpoint. Each swap shows in the sink output and in /v1/status.
func TestRunReloadsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	f := &reloadFixture{t: t, dir: t.TempDir()}
	f.out = filepath.Join(f.dir, "out.txt")
	f.config = filepath.Join(f.dir, "tokenwire.yaml")
	v1, err := os.ReadFile(guest("tagged"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := bytes.Replace(v1, []byte("tagged-v1"), []byte("tagged-v2"), 1)
	broken, err := os.ReadFile(guest("no_on_event"))
	if err != nil {
		t.Fatal(err)
	}
	f.write("v1.wasm", v1)
	f.write("v2.wasm", v2)
	f.write("broken.wasm", broken)
	f.write("admin.token", []byte(adminTokenForTest+"\n"))
	f.write("tokenwire.yaml", []byte(f.configFor("v1.wasm")))

	stderr := &syncBuffer{}
	cmd := exec.Command(bin, "run", "--config", f.config, "--listen", "127.0.0.1:0", "--log-level", "debug")
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(f.dir, "cache"))
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := waitListening(t, stderr)
	generation := func(n uint64) func(twruntime.Status) bool {
		return func(st twruntime.Status) bool { return st.Generation == n }
	}

	if got := f.handledBy(base, "e1"); got != "tagged-v1" {
		t.Fatalf("e1 handled by %s", got)
	}

	// Rewrite the config in place.
	f.write("tokenwire.yaml", []byte(f.configFor("v2.wasm")))
	took := f.waitStatus(base, "swap after an in-place write", generation(2))
	t.Logf("in-place write went live after %s", took)
	if got := f.handledBy(base, "e2"); got != "tagged-v2" {
		t.Fatalf("e2 handled by %s after the in-place write", got)
	}

	// Replace the config by rename, as editors and ConfigMaps do.
	f.write("tokenwire.yaml.tmp", []byte(f.configFor("v1.wasm")))
	if err := os.Rename(filepath.Join(f.dir, "tokenwire.yaml.tmp"), f.config); err != nil {
		t.Fatal(err)
	}
	took = f.waitStatus(base, "swap after a rename", generation(3))
	t.Logf("rename went live after %s", took)
	if got := f.handledBy(base, "e3"); got != "tagged-v1" {
		t.Fatalf("e3 handled by %s after the rename", got)
	}

	// A broken module leaves the running one serving, with the error in
	// status.
	f.write("tokenwire.yaml", []byte(f.configFor("broken.wasm")))
	f.waitStatus(base, "failed reload in status", func(st twruntime.Status) bool {
		return st.LastFailedReload != nil && strings.Contains(st.LastFailedReload.Error, `missing export "tw_on_event"`)
	})
	if st := f.status(base); st.Generation != 3 || st.Listeners[0].ModuleInfo.SHA256 == "" {
		t.Fatalf("after a broken module: generation %d", st.Generation)
	}
	if got := f.handledBy(base, "e4"); got != "tagged-v1" {
		t.Fatalf("e4 handled by %s after a broken module", got)
	}

	// Restoring the running config reloads with nothing changed; then
	// replacing the module file swaps the build.
	f.write("tokenwire.yaml", []byte(f.configFor("v1.wasm")))
	f.waitStatus(base, "reload of the restored config", func(st twruntime.Status) bool {
		return st.Generation == 4 && st.LastReload.Changes[0] == "nothing changed"
	})
	f.write("v1.wasm.tmp", v2)
	if err := os.Rename(filepath.Join(f.dir, "v1.wasm.tmp"), filepath.Join(f.dir, "v1.wasm")); err != nil {
		t.Fatal(err)
	}
	f.waitStatus(base, "swap after the module file changed", generation(5))
	if st := f.status(base); !strings.Contains(st.LastReload.Trigger, "v1.wasm") {
		t.Fatalf("trigger %q does not name the module file", st.LastReload.Trigger)
	}
	if got := f.handledBy(base, "e5"); got != "tagged-v2" {
		t.Fatalf("e5 handled by %s after the module file changed", got)
	}

	// SIGHUP reloads with nothing changed.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	f.waitStatus(base, "reload on SIGHUP", func(st twruntime.Status) bool {
		return st.Generation == 6 && st.LastReload.Trigger == "SIGHUP" && st.LastReload.Changes[0] == "nothing changed"
	})

	// tokenwire status and check --against read the running daemon.
	tokenFile := filepath.Join(f.dir, "admin.token")
	out, err := exec.Command(bin, "status", "--addr", base, "--token-file", tokenFile).CombinedOutput()
	if err != nil {
		t.Fatalf("tokenwire status: %v\n%s", err, out)
	}
	mustContainAll(t, "status", string(out), "generation 6", "last reload        ok", "(SIGHUP)", "last failed reload FAILED", "listener tagged", "1 handled")
	f.write("candidate.yaml", []byte(f.configFor("v2.wasm")+"  - name: second\n    module: v1.wasm\n"))
	out, err = exec.Command(bin, "check", "--config", filepath.Join(f.dir, "candidate.yaml"), "--against", base).CombinedOutput()
	if err != nil {
		t.Fatalf("tokenwire check --against: %v\n%s", err, out)
	}
	mustContainAll(t, "check", string(out), "would:", `listener "tagged" kept: unchanged`, `listener "second" added`, "signing key kept")

	// The admin endpoint reloads too.
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/admin/reload", nil)
	req.Header.Set("Authorization", "Bearer "+adminTokenForTest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/admin/reload: %d", resp.StatusCode)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, stderr.String())
	}
	mustContainAll(t, "daemon log", stderr.String(), "msg=reloaded", "reload failed; the running listeners keep serving")
}

// waitListening returns the daemon's base URL once its log reports that
// it listens.
func waitListening(t *testing.T, stderr *syncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningPattern.FindStringSubmatch(stderr.String()); m != nil {
			return "http://" + m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("daemon not listening after 60s:\n%s", stderr.String())
	return ""
}

func mustContainAll(t *testing.T, label, s string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(s, want) {
			t.Errorf("%s does not contain %q:\n%s", label, want, s)
		}
	}
}

// TestRunRelativeConfigReloadsNothing starts the daemon with a config path
// relative to the working directory, whose sink, module and admin token
// paths are relative too. Reloading the unchanged file must change
// nothing and warn of nothing.
func TestRunRelativeConfigReloadsNothing(t *testing.T) {
	dir := t.TempDir()
	copyGuest(t, "echo", filepath.Join(dir, "echo.wasm"))
	text := `sinks:
  - {name: out, type: file, path: out.txt}
admin:
  token_file: admin.token
listeners:
  - name: echo
    module: echo.wasm
    sinks: [out]
`
	for name, data := range map[string]string{"tw.yaml": text, "admin.token": adminTokenForTest} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	base, _, stderr, stop := startDaemon(t, "--config", "tw.yaml")

	req, _ := http.NewRequest(http.MethodPost, base+"/v1/admin/reload", nil)
	req.Header.Set("Authorization", "Bearer "+adminTokenForTest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st twruntime.ReloadStatus
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !st.OK || len(st.Changes) != 1 || st.Changes[0] != "nothing changed" {
		t.Fatalf("reload of the unchanged config: %+v", st)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(stderr.String(), "only on restart") {
		t.Fatalf("a reload of the unchanged config warned of a restart-only change:\n%s", stderr.String())
	}
}
