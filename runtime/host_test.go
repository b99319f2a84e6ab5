package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/internal/setverify"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/sink"
)

// Offsets and lengths of the fixed data in probe.wat.
const (
	probeStdout     = 1024 // "stdout", 6 bytes
	probeNoSink     = 1040 // "no-such-sink", 12 bytes
	probeHello      = 1056 // "hello from probe", 16 bytes
	probeErrorMsg   = 1088 // "probe error", 11 bytes
	probeSETClaims  = 2048 // valid SET claims, 39 bytes
	probeIDToken    = 2304 // ID-token-shaped claims, 104 bytes
	probeNotJSON    = 2560 // "not json", 8 bytes
	probeEmptyEvent = 2576 // {"events":{}}, 13 bytes
	probeNotURI     = 2624 // {"events":{"not a uri":{}}}, 27 bytes
	probeBuffer     = 4096 // free space
	probeMemorySize = 65536
)

// probe is one instance of probe.wasm with a chosen current event.
type probe struct {
	t    *testing.T
	env  *testEnv
	inst *instance
}

// newProbe starts a runtime with one probe listener, adjusted by edit, and
// takes one of its instances.
func newProbe(t *testing.T, edit func(*config.Listener)) *probe {
	t.Helper()
	lc := listenerFor("probe", "probe")
	if edit != nil {
		edit(&lc)
	}
	env := newEnv(t, lc)
	l := env.rt.listener(0)
	inst, err := l.acquire(context.Background(), &home{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.release(context.Background(), &home{}, inst) })
	inst.begin(nil)
	return &probe{t: t, env: env, inst: inst}
}

// call calls the probe export call_<fn> with args and returns its result.
func (p *probe) call(fn string, args ...uint32) int32 {
	p.t.Helper()
	f := p.inst.mod.ExportedFunction("call_" + fn)
	if f == nil {
		p.t.Fatalf("probe has no export call_%s", fn)
	}
	stack := make([]uint64, max(len(args), 1))
	for i, a := range args {
		stack[i] = uint64(a)
	}
	cfg := p.inst.l.cfg
	if err := p.inst.call(context.Background(), f, "call_"+fn, stack, cfg.Budgets.Instructions, cfg.Deadline); err != nil {
		p.t.Fatalf("call_%s%v trapped: %v", fn, args, err)
	}
	return int32(stack[0])
}

// read returns guest memory [offset, offset+n).
func (p *probe) read(offset, n uint32) []byte {
	p.t.Helper()
	b, ok := p.inst.mod.Memory().Read(offset, n)
	if !ok {
		p.t.Fatalf("read %d bytes at %d: out of range", n, offset)
	}
	return append([]byte(nil), b...)
}

// write puts data into guest memory at offset.
func (p *probe) write(offset uint32, data string) {
	p.t.Helper()
	if !p.inst.mod.Memory().Write(offset, []byte(data)) {
		p.t.Fatalf("write at %d: out of range", offset)
	}
}

func expectStatus(t *testing.T, call string, got int32, want abi.Status) {
	t.Helper()
	if abi.Status(got) != want {
		t.Errorf("%s = %d (%v), want %d (%v)", call, got, abi.Status(got), int32(want), want)
	}
}

// badRegions are (pointer, length) pairs that do not lie inside one page.
var badRegions = []struct {
	name     string
	ptr, len uint32
}{
	{"pointer past end", probeMemorySize + 16, 1},
	{"region crosses end", probeMemorySize - 4, 8},
	{"negative length", 0, 0xFFFFFFFF},
	{"pointer and length overflow", 0xFFFFFFF0, 0x20},
	{"max pointer", 0xFFFFFFFF, 1},
}

func TestHostInvalidMemory(t *testing.T) {
	p := newProbe(t, nil)
	p.inst.event = []byte(`{"id":"e1"}`)
	p.inst.result = []byte("token")
	for _, r := range badRegions {
		t.Run(r.name, func(t *testing.T) {
			calls := map[string]int32{
				"event_read":        p.call("event_read", r.ptr, r.len),
				"config_read":       p.call("config_read", r.ptr, r.len),
				"log":               p.call("log", 1, r.ptr, r.len),
				"log bad level":     p.call("log", 9, r.ptr, r.len),
				"set_error":         p.call("set_error", r.ptr, r.len),
				"sign":              p.call("sign", r.ptr, r.len),
				"result_read":       p.call("result_read", r.ptr, r.len),
				"emit sink region":  p.call("emit", r.ptr, r.len, probeHello, 16),
				"emit data region":  p.call("emit", probeStdout, 6, r.ptr, r.len),
				"emit unknown sink": p.call("emit", probeNoSink, 12, r.ptr, r.len),
			}
			for name, got := range calls {
				expectStatus(t, name, got, abi.StatusInvalidMemory)
			}
		})
	}
	if got := len(p.env.out.all()); got != 0 {
		t.Errorf("%d payloads emitted through bad regions, want 0", got)
	}
}

func TestHostZeroLengthAtEnd(t *testing.T) {
	p := newProbe(t, nil)
	p.inst.event = []byte(`{"id":"e1"}`)
	if got := p.call("event_read", probeMemorySize, 0); got != int32(len(p.inst.event)) {
		t.Errorf("event_read(65536, 0) = %d, want the total %d", got, len(p.inst.event))
	}
}

func TestHostEventRead(t *testing.T) {
	p := newProbe(t, nil)
	expectStatus(t, "event_read outside tw_on_event", p.call("event_read", probeBuffer, 100), abi.StatusNotFound)

	event := `{"id":"e1","type":"id_token.issued"}`
	p.inst.event = []byte(event)
	if got := p.call("event_read", probeBuffer, 100); got != int32(len(event)) {
		t.Fatalf("event_read = %d, want %d", got, len(event))
	}
	if got := string(p.read(probeBuffer, uint32(len(event)))); got != event {
		t.Errorf("event bytes = %q, want %q", got, event)
	}

	p.write(probeBuffer+1000, "xxxxxxxxxx")
	if got := p.call("event_read", probeBuffer+1000, 5); got != int32(len(event)) {
		t.Errorf("short event_read = %d, want the total %d", got, len(event))
	}
	if got := string(p.read(probeBuffer+1000, 10)); got != event[:5]+"xxxxx" {
		t.Errorf("short read wrote %q, want 5 bytes then the old content", got)
	}
}

func TestHostConfigRead(t *testing.T) {
	p := newProbe(t, func(l *config.Listener) { l.ConfigJSON = []byte(`{"sink":"stdout","n":12345678901234567890}`) })
	want := `{"sink":"stdout","n":12345678901234567890}`
	if got := p.call("config_read", probeBuffer, 200); got != int32(len(want)) {
		t.Fatalf("config_read = %d, want %d", got, len(want))
	}
	if got := string(p.read(probeBuffer, uint32(len(want)))); got != want {
		t.Errorf("config = %s, want %s", got, want)
	}

	empty := newProbe(t, nil)
	if got := empty.call("config_read", probeBuffer, 10); got != 2 || string(empty.read(probeBuffer, 2)) != "{}" {
		t.Errorf("config_read without config = %d %q, want 2 \"{}\"", got, empty.read(probeBuffer, 2))
	}
}

func TestHostLog(t *testing.T) {
	p := newProbe(t, func(l *config.Listener) {
		l.Budgets.LogLines = 2
		l.Budgets.LogBytes = 12
	})
	expectStatus(t, "log level 4", p.call("log", 4, probeHello, 5), abi.StatusInvalidArgument)
	expectStatus(t, "log level -1", p.call("log", 0xFFFFFFFF, probeHello, 5), abi.StatusInvalidArgument)
	expectStatus(t, "log over log_bytes", p.call("log", 1, probeHello, 16), abi.StatusTooLarge)
	expectStatus(t, "first log", p.call("log", 2, probeHello, 11), abi.StatusOK)
	expectStatus(t, "second log", p.call("log", 0, probeHello, 5), abi.StatusOK)
	expectStatus(t, "log over log_lines", p.call("log", 1, probeHello, 5), abi.StatusLimitExceeded)
	p.inst.end()

	logs := p.env.logs.String()
	mustContain(t, "logs", logs, `level=WARN msg="hello from "`, "listener=probe", "level=DEBUG msg=hello", "guest log budget exhausted", "dropped_lines=1")
}

func TestHostSetError(t *testing.T) {
	p := newProbe(t, func(l *config.Listener) { l.Budgets.LogBytes = 5 })
	expectStatus(t, "set_error", p.call("set_error", probeErrorMsg, 11), abi.StatusOK)
	if p.inst.errorMsg != "probe" {
		t.Errorf("error message = %q, want it cut to log_bytes: %q", p.inst.errorMsg, "probe")
	}
}

func TestHostSign(t *testing.T) {
	p := newProbe(t, nil)
	expectStatus(t, "result_read before sign", p.call("result_read", probeBuffer, 10), abi.StatusNotFound)

	rejected := []struct {
		name     string
		ptr, len uint32
	}{
		{"ID-token-shaped claims", probeIDToken, 104},
		{"not JSON", probeNotJSON, 8},
		{"empty events", probeEmptyEvent, 13},
		{"event name not a URI", probeNotURI, 27},
	}
	for _, r := range rejected {
		expectStatus(t, "sign "+r.name, p.call("sign", r.ptr, r.len), abi.StatusInvalidArgument)
	}

	p.inst.signs = 0
	n := p.call("sign", probeSETClaims, 39)
	if n <= 0 {
		t.Fatalf("sign of valid claims = %d (%v), want a length", n, abi.Status(n))
	}
	if got := p.call("result_read", probeBuffer, uint32(n)); got != n {
		t.Fatalf("result_read = %d, want %d", got, n)
	}
	token := string(p.read(probeBuffer, uint32(n)))
	header, payload, err := setverify.Verify(token, p.env.signer.PublicJWKS())
	if err != nil {
		t.Fatalf("SET does not verify: %v", err)
	}
	if header["typ"] != "secevent+jwt" {
		t.Errorf("typ = %v, want secevent+jwt", header["typ"])
	}
	if payload["iss"] != testIssuer {
		t.Errorf("iss = %v, want %s", payload["iss"], testIssuer)
	}
	for _, claim := range []string{"iat", "jti", "events"} {
		if _, ok := payload[claim]; !ok {
			t.Errorf("SET has no %q claim", claim)
		}
	}
	mustContain(t, "logs", p.env.logs.String(), "sign rejected")
}

func TestHostSignLimits(t *testing.T) {
	notGranted := newProbe(t, func(l *config.Listener) { l.Sign = false })
	expectStatus(t, "sign without grant", notGranted.call("sign", probeSETClaims, 39), abi.StatusNotPermitted)

	budget := newProbe(t, func(l *config.Listener) { l.Budgets.Signs = 1 })
	if n := budget.call("sign", probeSETClaims, 39); n <= 0 {
		t.Fatalf("first sign = %d, want a length", n)
	}
	expectStatus(t, "sign over budget", budget.call("sign", probeSETClaims, 39), abi.StatusLimitExceeded)

	size := newProbe(t, func(l *config.Listener) { l.Budgets.ClaimsBytes = 16 })
	expectStatus(t, "sign over claims_bytes", size.call("sign", probeSETClaims, 39), abi.StatusTooLarge)
}

func TestHostEmit(t *testing.T) {
	p := newProbe(t, func(l *config.Listener) {
		l.Budgets.Emits = 3
		l.Budgets.EmitBytes = 12
	})
	expectStatus(t, "emit to unknown sink", p.call("emit", probeNoSink, 12, probeHello, 5), abi.StatusNotFound)
	p.write(probeBuffer, "other")
	expectStatus(t, "emit to sink not granted", p.call("emit", probeBuffer, 5, probeHello, 5), abi.StatusNotPermitted)
	expectStatus(t, "emit over emit_bytes", p.call("emit", probeStdout, 6, probeHello, 16), abi.StatusTooLarge)
	p.write(probeBuffer+16, "a\nb")
	expectStatus(t, "emit line break", p.call("emit", probeStdout, 6, probeBuffer+16, 3), abi.StatusInvalidArgument)
	expectStatus(t, "emit", p.call("emit", probeStdout, 6, probeHello, 5), abi.StatusOK)
	expectStatus(t, "emit over budget", p.call("emit", probeStdout, 6, probeHello, 5), abi.StatusLimitExceeded)

	p.inst.end()
	mustContain(t, "logs", p.env.logs.String(), "emit rejected", "sink=no-such-sink", "sink=other", "not granted")

	got := p.env.out.all()
	if len(got) != 1 || got[0] != "hello" {
		t.Errorf("stdout sink got %q, want [hello]", got)
	}
	if n := len(p.env.other.all()); n != 0 {
		t.Errorf("sink not granted got %d payloads", n)
	}
}

// failingSink fails every Publish with err.
type failingSink struct{ err error }

func (f failingSink) Publish(context.Context, []byte) error { return f.err }
func (f failingSink) Close(context.Context) error           { return nil }

func TestHostEmitSinkFailures(t *testing.T) {
	cases := []struct {
		err  error
		want abi.Status
	}{
		{fmt.Errorf("queue full: %w", sink.ErrUnavailable), abi.StatusUnavailable},
		{errors.New("disk on fire"), abi.StatusInternal},
	}
	for _, c := range cases {
		t.Run(c.want.String(), func(t *testing.T) {
			lc := listenerFor("probe", "probe")
			cfg := &config.Config{Issuer: testIssuer, Sinks: []config.Sink{{Name: "stdout", Type: "stdout"}}, Listeners: []config.Listener{lc}}
			if err := cfg.Normalize(); err != nil {
				t.Fatal(err)
			}
			logs := &logBuffer{}
			rt, err := New(context.Background(), cfg, WithSink("stdout", failingSink{c.err}), WithLogger(testLogger(logs)), WithSigner(testSigner(t)))
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close(context.Background())
			p := &probe{t: t, env: &testEnv{rt: rt, logs: logs}}
			l := rt.listener(0)
			p.inst, err = l.acquire(context.Background(), &home{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.release(context.Background(), &home{}, p.inst)
			p.inst.begin(nil)
			expectStatus(t, "emit", p.call("emit", probeStdout, 6, probeHello, 5), c.want)
			mustContain(t, "logs", logs.String(), "emit failed", c.err.Error())
		})
	}
}

func TestHostWithoutInstance(t *testing.T) {
	// A host function reached without an instance in its context (not
	// possible through the runtime) must still return a status.
	p := newProbe(t, nil)
	f := p.inst.mod.ExportedFunction("call_log")
	// Enough budget that the metering code does not call refuel, which
	// needs the instance as well.
	p.inst.budget.global.Set(refuelSlice)
	results, err := f.Call(context.Background(), 1, probeHello, 5)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "log without instance", int32(results[0]), abi.StatusInternal)
}

func TestHostStatusNames(t *testing.T) {
	for _, s := range abi.Statuses {
		if strings.HasPrefix(s.String(), "status(") {
			t.Errorf("status %d has no name", int32(s))
		}
	}
}

// failingSigner fails every Sign with err.
type failingSigner struct{ err error }

func (f failingSigner) Sign([]byte) ([]byte, error) { return nil, f.err }
func (f failingSigner) PublicJWKS() []byte          { return []byte(`{"keys":[]}`) }

func TestHostSignFailures(t *testing.T) {
	cases := []struct {
		err  error
		want abi.Status
	}{
		{fmt.Errorf("key service down: %w", ErrSignerUnavailable), abi.StatusUnavailable},
		{errors.New("hardware token removed"), abi.StatusInternal},
	}
	for _, c := range cases {
		t.Run(c.want.String(), func(t *testing.T) {
			cfg := &config.Config{Issuer: testIssuer, Listeners: []config.Listener{listenerFor("probe", "probe")}}
			cfg.Listeners[0].Sinks = nil
			if err := cfg.Normalize(); err != nil {
				t.Fatal(err)
			}
			logs := &logBuffer{}
			rt, err := New(context.Background(), cfg, WithSigner(failingSigner{c.err}), WithLogger(testLogger(logs)))
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close(context.Background())
			l := rt.listener(0)
			p := &probe{t: t, env: &testEnv{rt: rt, logs: logs}}
			p.inst, err = l.acquire(context.Background(), &home{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.release(context.Background(), &home{}, p.inst)
			p.inst.begin(nil)
			expectStatus(t, "sign", p.call("sign", probeSETClaims, 39), c.want)
			expectStatus(t, "result_read after failed sign", p.call("result_read", probeBuffer, 10), abi.StatusNotFound)
			mustContain(t, "logs", logs.String(), "sign failed", c.err.Error())
		})
	}
}
