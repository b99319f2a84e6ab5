package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

// reloadDir is a config directory with two builds of the tagged guest,
// v1.wasm and v2.wasm, and the guests the tests name.
type reloadDir struct {
	t   testing.TB
	dir string
}

func newReloadDir(t testing.TB, guests ...string) *reloadDir {
	t.Helper()
	d := &reloadDir{t: t, dir: t.TempDir()}
	v1, err := os.ReadFile(guestPath("tagged"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := bytes.Replace(v1, []byte("tagged-v1"), []byte("tagged-v2"), 1)
	if bytes.Equal(v1, v2) {
		t.Fatal("tagged.wasm does not contain the tag tagged-v1")
	}
	d.write("v1.wasm", v1)
	d.write("v2.wasm", v2)
	for _, g := range guests {
		code, err := os.ReadFile(guestPath(g))
		if err != nil {
			t.Fatal(err)
		}
		d.write(g+".wasm", code)
	}
	return d
}

func (d *reloadDir) write(name string, data []byte) {
	d.t.Helper()
	if err := os.WriteFile(filepath.Join(d.dir, name), data, 0o600); err != nil {
		d.t.Fatal(err)
	}
}

// config parses YAML as the file tokenwire.yaml of the directory.
func (d *reloadDir) config(yaml string) (*config.Config, error) {
	return config.Parse([]byte(yaml), filepath.Join(d.dir, "tokenwire.yaml"))
}

func (d *reloadDir) mustConfig(yaml string) *config.Config {
	d.t.Helper()
	cfg, err := d.config(yaml)
	if err != nil {
		d.t.Fatal(err)
	}
	return cfg
}

// taggedConfig is a config with the listener "tagged" on module and the
// listener "steady" on the echo guest, both emitting to sink "stdout".
// Deadlines are long because the race detector and a loaded machine slow
// calls far past the default.
func taggedConfig(module string) string {
	return `
sinks:
  - {name: stdout, type: stdout}
reload:
  drain_timeout: 5s
listeners:
  - name: tagged
    module: ` + module + `
    sinks: [stdout]
    deadline: 10s
    pool_size: 2
  - name: steady
    module: echo.wasm
    sinks: [stdout]
    deadline: 10s
    pool_size: 2
`
}

// startReloadable starts a runtime for cfg with sink "stdout" captured.
func startReloadable(t testing.TB, cfg *config.Config) (*Runtime, *captureSink, *logBuffer) {
	t.Helper()
	out, logs := newCaptureSink(), &logBuffer{}
	rt, err := New(context.Background(), cfg, WithLogger(testLogger(logs)), WithSink("stdout", out))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return rt, out, logs
}

// TestReloadHammer swaps the tagged listener between two builds while
// several goroutines dispatch, with configs that fail to parse and a
// module whose tw_init fails mixed in. Every event must be handled exactly
// once by each listener, and a failed reload must leave the previous
// generation serving.
func TestReloadHammer(t *testing.T) {
	const swaps = 200
	d := newReloadDir(t, "echo", "init_fails")
	rt, out, _ := startReloadable(t, d.mustConfig(taggedConfig("v1.wasm")))
	steady := rt.listener(1)

	stopLoad := dispatchLoad(rt)
	checks := 0
	current, succeeded := "v1", 0
	for i := 0; succeeded < swaps; i++ {
		switch i % 4 {
		case 0, 1:
			next := map[string]string{"v1": "v2", "v2": "v1"}[current]
			if _, err := rt.Reload(context.Background(), d.mustConfig(taggedConfig(next+".wasm")), "test"); err != nil {
				t.Fatalf("swap %d to %s: %v", succeeded, next, err)
			}
			current = next
			succeeded++
		case 2:
			before := rt.Status().Generation
			d.write("tokenwire.yaml", []byte(taggedConfig("v1.wasm")+"  - name: tagged\n    module: v2.wasm\n"))
			_, err := rt.ReloadFile(context.Background(), filepath.Join(d.dir, "tokenwire.yaml"), "test")
			if err == nil || !strings.Contains(err.Error(), `listener "tagged" is defined twice`) {
				t.Fatalf("reload of a config with a duplicate listener: got %v", err)
			}
			if got := rt.Status().Generation; got != before {
				t.Fatalf("an invalid config moved the generation from %d to %d", before, got)
			}
		case 3:
			before := rt.Status().Generation
			_, err := rt.Reload(context.Background(), d.mustConfig(taggedConfig("init_fails.wasm")), "test")
			if !errors.Is(err, ErrStart) || !strings.Contains(err.Error(), "bad config") {
				t.Fatalf("reload to a module whose tw_init fails: got %v", err)
			}
			if got := rt.Status().Generation; got != before {
				t.Fatalf("a failed reload moved the generation from %d to %d", before, got)
			}
		}
		// Whatever happened, the generation serving now handles events
		// with the build of the last successful swap.
		id := fmt.Sprintf("check-%04d", i)
		if err := rt.Dispatch(context.Background(), testEvent(id)); err != nil {
			t.Fatalf("after step %d: %v", i, err)
		}
		checks++
		if got := taggedLine(t, out, id); got != "tagged-"+current {
			t.Fatalf("after step %d event %s was handled by %s, want tagged-%s", i, id, got, current)
		}
	}
	sent, errs := stopLoad()
	if len(errs) > 0 {
		t.Fatalf("dispatch failed during reloads: %v", errors.Join(errs...))
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}

	tagged, echoed := map[string]int{}, map[string]int{}
	for _, line := range out.all() {
		ev := line
		if tag, rest, ok := strings.Cut(line, " "); ok && strings.HasPrefix(tag, "tagged-") {
			if tag != "tagged-v1" && tag != "tagged-v2" {
				t.Fatalf("unexpected tag in %q", line)
			}
			tagged[eventID(t, rest)]++
			continue
		}
		echoed[eventID(t, ev)]++
	}
	n := checks
	for _, count := range sent {
		n += count
	}
	if len(tagged) != n || len(echoed) != n {
		t.Fatalf("%d events dispatched, tagged listener handled %d distinct, steady handled %d distinct", n, len(tagged), len(echoed))
	}
	for id, count := range tagged {
		if count != 1 || echoed[id] != 1 {
			t.Fatalf("event %s handled %d times by tagged and %d by steady, want once each", id, count, echoed[id])
		}
	}
	if rt.listener(1) != steady {
		t.Fatal("the unchanged listener steady was rebuilt by a reload")
	}
	if got := rt.Status().Generation; got != swaps+1 {
		t.Fatalf("generation %d after %d swaps, want %d", got, swaps, swaps+1)
	}
	t.Logf("%d swaps, %d events", swaps, n)
}

// dispatchLoad dispatches events from four goroutines until the returned
// stop is called. Worker w sends the ids "w<w>-000000", "w<w>-000001" and
// so on. stop waits for the workers and returns how many events each sent
// and the errors that ended any of them.
func dispatchLoad(rt *Runtime) (stop func() ([]int, []error)) {
	var (
		wg   sync.WaitGroup
		done = make(chan struct{})
		sent = make([]int, 4)
		errs = make([]error, 4)
	)
	for w := range sent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				if err := rt.Dispatch(context.Background(), testEvent(fmt.Sprintf("w%d-%06d", w, i))); err != nil {
					errs[w] = err
					return
				}
				sent[w]++
			}
		}()
	}
	return func() ([]int, []error) {
		close(done)
		wg.Wait()
		var failed []error
		for _, err := range errs {
			if err != nil {
				failed = append(failed, err)
			}
		}
		return sent, failed
	}
}

// taggedLine returns the tag of the line that carries event id.
func taggedLine(t *testing.T, out *captureSink, id string) string {
	t.Helper()
	needle := `"id":"` + id + `"`
	lines := out.all()
	for i := len(lines) - 1; i >= 0; i-- {
		if tag, rest, ok := strings.Cut(lines[i], " "); ok && strings.HasPrefix(tag, "tagged-") && strings.Contains(rest, needle) {
			return tag
		}
	}
	t.Fatalf("no tagged line for event %s", id)
	return ""
}

// eventID returns the id of an encoded event.
func eventID(t *testing.T, encoded string) string {
	t.Helper()
	ev, err := intake.Normalize([]byte(encoded), intake.Options{DefaultIssuer: testIssuer})
	if err != nil {
		t.Fatalf("sink line %q is not an event: %v", encoded, err)
	}
	return ev.ID
}

func TestReloadReportsChangesAndKeepsWarmListeners(t *testing.T) {
	d := newReloadDir(t, "echo")
	rt, _, logs := startReloadable(t, d.mustConfig(taggedConfig("v1.wasm")))
	tagged, steady := rt.listener(0), rt.listener(1)

	// Same config: nothing changes and both listeners stay.
	st, err := rt.Reload(context.Background(), d.mustConfig(taggedConfig("v1.wasm")), "test")
	if err != nil {
		t.Fatal(err)
	}
	if st.Generation != 2 || len(st.Changes) != 1 || st.Changes[0] != "nothing changed" {
		t.Fatalf("identical reload: %+v", st)
	}
	if rt.listener(0) != tagged || rt.listener(1) != steady {
		t.Fatal("an identical reload rebuilt a listener")
	}

	// Routing alone: the listener is kept, with new events.
	cfg := d.mustConfig(strings.Replace(taggedConfig("v1.wasm"), "pool_size: 2\n  - name: steady", "pool_size: 2\n    events: [access_token.issued]\n  - name: steady", 1))
	st, err = rt.Reload(context.Background(), cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "changes", strings.Join(st.Changes, "\n"), `listener "tagged" rerouted: events changed`)
	if rt.listener(0) != tagged {
		t.Fatal("a change of events rebuilt the listener")
	}
	if got := rt.Listeners()[0].Events; len(got) != 1 || got[0] != "access_token.issued" {
		t.Fatalf("status events %v after reroute", got)
	}

	// A new module and a new setting rebuild; the old instances shut down.
	cfg = d.mustConfig(strings.Replace(taggedConfig("v2.wasm"), "pool_size: 2\n  - name: steady", "pool_size: 3\n  - name: steady", 1))
	st, err = rt.Reload(context.Background(), cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "changes", strings.Join(st.Changes, "\n"), `listener "tagged" rebuilt: module, events, pool_size changed`)
	if rt.listener(0) == tagged || rt.listener(1) != steady {
		t.Fatal("reload rebuilt the wrong listener")
	}
	waitUntil(t, func() bool { return strings.Contains(logs.String(), "tagged shutdown") })

	// Removing a listener closes it once the old generation drains.
	cfg = d.mustConfig(taggedConfig("v2.wasm")[:strings.Index(taggedConfig("v2.wasm"), "  - name: steady")])
	st, err = rt.Reload(context.Background(), cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "changes", strings.Join(st.Changes, "\n"), `listener "steady" removed`)
	waitUntil(t, func() bool { return steady.closing.Load() })
	if s := rt.Status(); s.Generation != 5 || len(s.Listeners) != 1 || s.LastReload != st {
		t.Fatalf("status after four reloads: %+v", s)
	}
}

func TestReloadFailureKeepsRunningGeneration(t *testing.T) {
	d := newReloadDir(t, "echo", "no_on_event")
	rt, out, _ := startReloadable(t, d.mustConfig(taggedConfig("v1.wasm")))

	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"missing export", taggedConfig("no_on_event.wasm"), []string{"tokenwire.yaml:7:", `listener "tagged"`, "no_on_event.wasm", `missing export "tw_on_event"`}},
		{"missing module", taggedConfig("gone.wasm"), []string{"tokenwire.yaml:7:", "gone.wasm not found"}},
		{"pin mismatch", strings.Replace(taggedConfig("v2.wasm"), "pool_size: 2\n  - name: steady", "pool_size: 2\n    module_sha256: "+strings.Repeat("ab", 32)+"\n  - name: steady", 1), []string{"module_sha256 pins abab", "deploy the pinned build or update the pin"}},
		{"missing key file", taggedConfig("v2.wasm") + "signing:\n  key_file: nokey.pem\n", []string{"signing.key_file", "nokey.pem"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := rt.Reload(context.Background(), d.mustConfig(c.yaml), "test")
			if err == nil {
				t.Fatal("reload succeeded")
			}
			mustContain(t, "error", err.Error(), c.want...)
			s := rt.Status()
			if s.Generation != 1 || s.LastFailedReload == nil || s.LastFailedReload.Error != err.Error() || s.LastFailedReload.OK {
				t.Fatalf("status after a failed reload: generation %d, last failed %+v", s.Generation, s.LastFailedReload)
			}
			if err := rt.Dispatch(context.Background(), testEvent("after-"+c.name)); err != nil {
				t.Fatal(err)
			}
			mustContain(t, "sink", out.buf.String(), `tagged-v1 {"id":"after-`+c.name)
		})
	}

	// A pin that matches loads.
	sum := sha256.Sum256(mustRead(t, filepath.Join(d.dir, "v2.wasm")))
	pinned := strings.Replace(taggedConfig("v2.wasm"), "pool_size: 2\n  - name: steady", "pool_size: 2\n    module_sha256: "+strings.ToUpper(hex.EncodeToString(sum[:]))+"\n  - name: steady", 1)
	if _, err := rt.Reload(context.Background(), d.mustConfig(pinned), "test"); err != nil {
		t.Fatal(err)
	}
	if got := rt.Listeners()[0].ModuleInfo.SHA256; got != hex.EncodeToString(sum[:]) {
		t.Fatalf("module digest %s after pinned reload", got)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestReloadRotatesKeyWithOverlap(t *testing.T) {
	d := newReloadDir(t, "echo")
	d.write("a.pem", testKeyPEM(t))
	d.write("b.pem", testKeyPEM(t))
	withKey := func(key, overlap string) *config.Config {
		return d.mustConfig(taggedConfig("v1.wasm") + "issuer: " + testIssuer + "\nsigning:\n  key_file: " + key + "\n  previous_key_overlap: " + overlap + "\n")
	}
	rt, _, _ := startReloadable(t, withKey("a.pem", "1h"))
	kidA := keyIDs(t, rt.JWKS())
	if len(kidA) != 1 {
		t.Fatalf("JWKS at start has %d keys", len(kidA))
	}
	signerA := rt.listener(0).env.Load().signer

	st, err := rt.Reload(context.Background(), withKey("b.pem", "1h"), "test")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "changes", strings.Join(st.Changes, "\n"), "signer replaced")
	// The kept listener signs with the new key from the swap on.
	if rt.listener(0).env.Load().signer == signerA {
		t.Fatal("the kept listener still signs with the replaced key")
	}
	both := keyIDs(t, rt.JWKS())
	if len(both) != 2 || both[1] != kidA[0] {
		t.Fatalf("JWKS after rotation lists %v, want the new key then %s", both, kidA[0])
	}

	// Reloading the same key keeps the signer; the overlap still runs.
	if _, err := rt.Reload(context.Background(), withKey("b.pem", "1h"), "test"); err != nil {
		t.Fatal(err)
	}
	if got := keyIDs(t, rt.JWKS()); len(got) != 2 {
		t.Fatalf("JWKS after an unchanged reload lists %v", got)
	}
	// Once the overlap has passed, the previous key leaves the set.
	if got := keyIDs(t, rt.keys.jwks(time.Now().Add(2*time.Hour))); len(got) != 1 || got[0] != both[0] {
		t.Fatalf("JWKS after the overlap lists %v, want only %s", got, both[0])
	}
}

// keyIDs returns the kid of each key in a JWK set, in order.
func keyIDs(t *testing.T, set []byte) []string {
	t.Helper()
	var ids []string
	for _, k := range jwksKeys(set) {
		i := bytes.Index(k, []byte(`"kid":"`))
		if i < 0 {
			t.Fatalf("key without kid: %s", k)
		}
		rest := k[i+7:]
		ids = append(ids, string(rest[:bytes.IndexByte(rest, '"')]))
	}
	return ids
}

func TestReloadFileRecordsConfigErrors(t *testing.T) {
	d := newReloadDir(t, "echo")
	rt, _, _ := startReloadable(t, d.mustConfig(taggedConfig("v1.wasm")))
	path := filepath.Join(d.dir, "tokenwire.yaml")
	d.write("tokenwire.yaml", []byte(taggedConfig("v1.wasm")+"  - name: extra\n    module: v2.wasm\n    sinks: [nowhere]\n"))

	_, err := rt.ReloadFile(context.Background(), path, "SIGHUP")
	if err == nil {
		t.Fatal("reload of an invalid config succeeded")
	}
	mustContain(t, "error", err.Error(), "tokenwire.yaml:17:", `sink "nowhere" is not defined`)
	s := rt.Status()
	if s.Generation != 1 || s.LastReload == nil || s.LastReload.OK || s.LastReload.Trigger != "SIGHUP" || s.LastReload.Error != err.Error() {
		t.Fatalf("status after an invalid config: %+v", s.LastReload)
	}

	d.write("tokenwire.yaml", []byte(taggedConfig("v2.wasm")))
	st, err := rt.ReloadFile(context.Background(), path, "SIGHUP")
	if err != nil || !st.OK || rt.Status().Generation != 2 {
		t.Fatalf("reload of a fixed config: %+v, %v", st, err)
	}
	if rt.Status().LastFailedReload == nil {
		t.Fatal("a successful reload cleared the last failure")
	}
}

func TestPlanReloadMatchesReload(t *testing.T) {
	d := newReloadDir(t, "echo")
	rt, _, _ := startReloadable(t, d.mustConfig(taggedConfig("v1.wasm")))
	candidate := d.mustConfig(strings.Replace(taggedConfig("v2.wasm"), "  - name: steady", "  - name: fresh\n    module: echo.wasm\n  - name: steady", 1))

	plan, err := PlanReload(rt.Listeners(), candidate)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`listener "tagged" rebuilt: module changed`,
		`listener "fresh" added`,
		`listener "steady" kept: unchanged, its instances stay warm`,
	}
	if strings.Join(plan, "\n") != strings.Join(want, "\n") {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(plan, "\n"), strings.Join(want, "\n"))
	}
	st, err := rt.Reload(context.Background(), candidate, "test")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(st.Changes, "\n") != strings.Join(want[:2], "\n") {
		t.Fatalf("reload changes %q differ from the plan %q", st.Changes, plan)
	}

	removed := d.mustConfig(taggedConfig("v2.wasm"))
	plan, err = PlanReload(rt.Listeners(), removed)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "plan", strings.Join(plan, "\n"), `listener "fresh" removed`)
}

// TestListenerStatusJSON pins the keys of a listener in GET /v1/status and
// checks that a status read back from JSON gives the settings the running
// listener has, as "tokenwire check --against" compares them.
func TestListenerStatusJSON(t *testing.T) {
	lc := listenerFor("echo", "echo")
	lc.ConfigJSON = []byte(`{"claims":["sub"]}`)
	env := newEnv(t, lc)
	running := env.rt.Listeners()
	if len(running) != 1 {
		t.Fatalf("listeners = %d, want 1", len(running))
	}
	running[0].LastError = "set so that the key shows"
	data, err := json.Marshal(running[0])
	if err != nil {
		t.Fatal(err)
	}

	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(fields))
	want := []string{"budgets", "config_sha256", "deadline_ns", "events", "failures", "handled", "instances",
		"last_error", "memory_limit", "module", "module_info", "name", "pool_size", "sign", "sinks",
		"skipped", "start_deadline_ns", "timeouts"}
	if !slices.Equal(keys, want) {
		t.Errorf("status keys = %q, want %q", keys, want)
	}

	var back ListenerStatus
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if diff := back.ReloadSettings().Diff(running[0].ReloadSettings()); len(diff) > 0 {
		t.Errorf("settings read back from JSON differ in %v", diff)
	}
	if back.ReloadSettings().ModuleSHA256 == "" || back.ReloadSettings().ConfigSHA256 == "" {
		t.Errorf("settings read back from JSON lack a digest: %+v", back.ReloadSettings())
	}
}
