package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/runtime/signer"
)

// TestReloadStatusReadDuringReload reads and encodes the status while
// reloads that change nothing run. Reload stores its status for readers
// and must not write to it afterwards; run with -race.
func TestReloadStatusReadDuringReload(t *testing.T) {
	d := newReloadDir(t, "echo")
	rt, _, _ := startReloadable(t, d.mustConfig(taggedConfig("v1.wasm")))
	cfg := taggedConfig("v1.wasm")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := json.Marshal(rt.Status()); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 100 {
		st, err := rt.Reload(context.Background(), d.mustConfig(cfg), "test")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(st.Changes, []string{"nothing changed"}) {
			t.Fatalf("changes %q", st.Changes)
		}
	}
	close(stop)
	wg.Wait()
	if got := rt.Status().LastReload.Changes; !slices.Equal(got, []string{"nothing changed"}) {
		t.Fatalf("status changes %q, want the changes Reload returned", got)
	}
}

// valueSigner is a Signer whose dynamic type cannot be compared with ==,
// as a struct holding a slice, which a caller may pass to WithSigner.
type valueSigner struct {
	inner *signer.Signer
	tags  []string
}

func (s valueSigner) Sign(claims []byte) ([]byte, error) { return s.inner.Sign(claims) }
func (s valueSigner) PublicJWKS() []byte                 { return s.inner.PublicJWKS() }

// TestReloadSignerOfUncomparableType reloads a runtime whose signer came
// from WithSigner and is a struct value holding a slice. Comparing two
// such interface values with == panics.
func TestReloadSignerOfUncomparableType(t *testing.T) {
	d := newReloadDir(t, "echo")
	cfg := d.mustConfig(taggedConfig("v1.wasm"))
	rt, err := New(context.Background(), cfg, WithSigner(valueSigner{inner: testSigner(t), tags: []string{"a"}}), WithSink("stdout", newCaptureSink()), WithLogger(testLogger(&logBuffer{})))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())

	reload := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("Reload panicked: %v", p)
			}
		}()
		_, err = rt.Reload(context.Background(), d.mustConfig(taggedConfig("v2.wasm")), "test")
		return err
	}
	if err := reload(); err != nil {
		t.Fatal(err)
	}
}

// TestReloadKeepsSignGrantWithoutKey removes signing.key_file while a
// listener granted sign stays unchanged. New rejects such a config
// ("granted sign but no signing key is configured"), so Reload must
// reject it too, instead of keeping the listener with no signer, where
// every sign call returns NOT_PERMITTED with a log line saying the
// listener is not granted sign.
func TestReloadKeepsSignGrantWithoutKey(t *testing.T) {
	d := newReloadDir(t, "echo")
	d.write("a.pem", testKeyPEM(t))
	signing := strings.Replace(taggedConfig("v1.wasm"), "    pool_size: 2\n  - name: steady", "    pool_size: 2\n    sign: true\n  - name: steady", 1) + "issuer: " + testIssuer + "\n"
	rt, _, _ := startReloadable(t, d.mustConfig(signing+"signing:\n  key_file: a.pem\n"))

	if _, err := New(context.Background(), d.mustConfig(signing), WithSink("stdout", newCaptureSink())); err == nil {
		t.Fatal("New accepted a listener granted sign without a key")
	}
	_, err := rt.Reload(context.Background(), d.mustConfig(signing), "test")
	if err == nil {
		t.Fatalf("reload dropped the signing key under listener %q, granted sign, and succeeded; its signer is now %v",
			"tagged", rt.listener(0).env.Load().signer)
	}
	mustContain(t, "error", err.Error(), `listener "tagged"`, "signing")
}

// TestReloadRotationSameKeyID replaces the key file while signing.key_id
// stays the same, as operators who name keys do. The JWK set then serves
// the new key and, for the overlap, the old one: RFC 7517 section 4.5
// asks that keys in one set use distinct kid values, and a receiver that
// looks a key up by kid finds only one of the two, so SETs signed by the
// other fail verification. Reload must reject the rotation (naming
// signing.key_id) or serve distinct kids.
func TestReloadRotationSameKeyID(t *testing.T) {
	d := newReloadDir(t, "echo")
	d.write("a.pem", testKeyPEM(t))
	d.write("b.pem", testKeyPEM(t))
	withKey := func(key string) string {
		return taggedConfig("v1.wasm") + "issuer: " + testIssuer + "\nsigning:\n  key_file: " + key + "\n  key_id: issuer-key\n  previous_key_overlap: 1h\n"
	}
	rt, _, _ := startReloadable(t, d.mustConfig(withKey("a.pem")))

	_, err := rt.Reload(context.Background(), d.mustConfig(withKey("b.pem")), "test")
	if err != nil {
		mustContain(t, "error", err.Error(), "signing.key_id")
		return
	}
	kids := keyIDs(t, rt.JWKS())
	seen := map[string]bool{}
	for _, kid := range kids {
		if seen[kid] {
			t.Fatalf("JWK set after rotation serves kid %q twice: %q", kid, kids)
		}
		seen[kid] = true
	}
}

// TestCloseDuringSlowReload closes the runtime while a reload waits for a
// new listener's tw_init. Close promises to wait only until its ctx ends,
// so it must not wait out the reload's start deadline.
func TestCloseDuringSlowReload(t *testing.T) {
	d := newReloadDir(t, "echo", "init_loop")
	rt, _, _ := startReloadable(t, d.mustConfig(taggedConfig("v1.wasm")))
	slow := strings.Replace(taggedConfig("init_loop.wasm"), "    pool_size: 2\n  - name: steady", "    pool_size: 2\n    start_deadline: 3s\n  - name: steady", 1)

	reloaded := make(chan error, 1)
	go func() {
		_, err := rt.Reload(context.Background(), d.mustConfig(slow), "test")
		reloaded <- err
	}()
	time.Sleep(300 * time.Millisecond) // the reload is now in tw_init

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = rt.Close(ctx)
	took := time.Since(start)
	if err := <-reloaded; !errors.Is(err, ErrStart) && !errors.Is(err, ErrClosed) {
		t.Logf("reload: %v", err)
	}
	if took > 1500*time.Millisecond {
		t.Fatalf("Close with a 200ms context returned after %s: it waited for the reload's 3s start deadline", took.Round(time.Millisecond))
	}
}

// TestReloadSinkChangeUnderLoad moves the file sink of two kept listeners
// between two paths on every reload while events are dispatched. Every
// event must reach exactly one of the files once per listener, and the
// listeners must stay the same.
func TestReloadSinkChangeUnderLoad(t *testing.T) {
	d := newReloadDir(t, "echo")
	withPath := func(path string) string {
		return strings.Replace(taggedConfig("v1.wasm"), "{name: stdout, type: stdout}", "{name: stdout, type: file, path: "+path+", fsync: never}", 1)
	}
	rt, err := New(context.Background(), d.mustConfig(withPath("a.out")), WithLogger(testLogger(&logBuffer{})))
	if err != nil {
		t.Fatal(err)
	}
	tagged, steady := rt.listener(0), rt.listener(1)

	stopLoad := dispatchLoad(rt)
	for i := range 100 {
		st, err := rt.Reload(context.Background(), d.mustConfig(withPath([]string{"b.out", "a.out"}[i%2])), "test")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			t.Logf("changes: %q", st.Changes)
		}
	}
	sent, errs := stopLoad()
	if len(errs) > 0 {
		t.Fatalf("dispatch failed during reloads: %v", errors.Join(errs...))
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rt.listener(0) != tagged || rt.listener(1) != steady {
		t.Fatal("a change of a sink's path rebuilt a listener")
	}

	seen := map[string]int{}
	for _, name := range []string{"a.out", "b.out"} {
		for _, line := range strings.Split(strings.TrimSpace(string(mustRead(t, d.dir+"/"+name))), "\n") {
			if line == "" {
				continue
			}
			_, ev, _ := strings.Cut(line, "tagged-v1 ")
			if ev == "" {
				ev = line
			}
			seen[eventID(t, ev)]++
		}
	}
	total := 0
	for w, n := range sent {
		total += n
		for i := range n {
			id := fmt.Sprintf("w%d-%06d", w, i)
			if seen[id] != 2 {
				t.Fatalf("event %s reached the sink files %d times, want 2 (once per listener)", id, seen[id])
			}
		}
	}
	if len(seen) != total {
		t.Fatalf("%d events sent, %d distinct in the sink files", total, len(seen))
	}
	t.Logf("%d events across 100 sink moves", total)
}

// gateSink is a sink whose Publish waits until the gate opens, so a test
// can hold an event in flight inside a listener.
type gateSink struct {
	entered chan struct{}
	gate    chan struct{}
	out     *captureSink
}

func (g *gateSink) Publish(ctx context.Context, p []byte) error {
	g.entered <- struct{}{}
	<-g.gate
	return g.out.Publish(ctx, p)
}

func (g *gateSink) Close(context.Context) error { return nil }

// TestReloadSharedListenerOutlivesGenerations holds an event in flight in
// generation 2 while three more reloads run: two keep the listener and the
// third removes it. The listener must stay open until that event ends,
// deliver it, and close only then.
func TestReloadSharedListenerOutlivesGenerations(t *testing.T) {
	d := newReloadDir(t, "echo")
	sink := &gateSink{entered: make(chan struct{}, 16), gate: make(chan struct{}), out: newCaptureSink()}
	logs := &logBuffer{}
	rt, err := New(context.Background(), d.mustConfig(taggedConfig("v1.wasm")), WithLogger(testLogger(logs)), WithSink("stdout", sink))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	tagged := rt.listener(0)

	// Only the tagged listener takes access tokens, so one event reaches
	// the gate once.
	routed := strings.Replace(taggedConfig("v1.wasm"), "    pool_size: 2\n  - name: steady", "    pool_size: 2\n    events: [access_token.issued]\n  - name: steady", 1)
	routed = strings.Replace(routed, "    module: echo.wasm\n", "    module: echo.wasm\n    events: [id_token.issued]\n", 1)
	if _, err := rt.Reload(context.Background(), d.mustConfig(routed), "test"); err != nil {
		t.Fatal(err)
	}
	if rt.listener(0) != tagged {
		t.Fatal("a change of events rebuilt the listener")
	}
	ev := testEvent("held")
	ev.Type = "access_token.issued"
	held := make(chan error, 1)
	go func() { held <- rt.Dispatch(context.Background(), ev) }()
	<-sink.entered

	for i := range 2 {
		if _, err := rt.Reload(context.Background(), d.mustConfig(routed), "test"); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	withoutTagged := routed[:strings.Index(routed, "  - name: tagged")] + routed[strings.Index(routed, "  - name: steady"):]
	st, err := rt.Reload(context.Background(), d.mustConfig(withoutTagged), "test")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "changes", strings.Join(st.Changes, "\n"), `listener "tagged" removed`)
	time.Sleep(100 * time.Millisecond)
	if tagged.closing.Load() {
		t.Fatal("the removed listener closed while generation 2 still had an event in it")
	}

	close(sink.gate)
	if err := <-held; err != nil {
		t.Fatalf("the held event: %v", err)
	}
	if got := taggedLine(t, sink.out, "held"); got != "tagged-v1" {
		t.Fatalf("the held event was handled by %s", got)
	}
	waitUntil(t, func() bool { return tagged.closing.Load() && strings.Contains(logs.String(), "tagged shutdown") })
}
