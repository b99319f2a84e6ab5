package fuzz

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/tokenwire/tokenwire/abi"
	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
	"github.com/tokenwire/tokenwire/runtime/signer"
	"github.com/tokenwire/tokenwire/runtime/sink"
)

// Spec names the listener to fuzz and how to run it.
type Spec struct {
	// Config contains the listener (and the sinks and issuer it refers to).
	// It must be normalized; its listener gets pool size 1 under the fuzzer,
	// and every other setting (deadline, memory limit, budgets, grants,
	// config) as written.
	Config *config.Config
	// Listener is the index of the listener in Config.
	Listener int
	// Coverage attaches a listener to every guest function to measure
	// which ones an input reaches. It made Go guests 1.8 to 4.7 times
	// slower (docs/benchmarks.md).
	Coverage bool
	// Logger receives the runtime's and the guest's log records. Nil
	// discards them.
	Logger *slog.Logger
}

// AdHocIssuer is the issuer of an ad-hoc listener's SETs, as in replay.
const AdHocIssuer = "https://tokenwire.invalid"

// AdHoc returns a normalized config with one listener for the module, set
// up as "tokenwire replay --module" sets one up: every event type, signing,
// and a stdout sink.
func AdHoc(module []byte, path, moduleConfig string) (*config.Config, error) {
	if moduleConfig == "" {
		moduleConfig = "{}"
	}
	name := strings.TrimSuffix(path[strings.LastIndex(path, "/")+1:], ".wasm")
	if name == "" {
		name = "listener"
	}
	cfg := &config.Config{
		Issuer: AdHocIssuer,
		Sinks:  []config.Sink{{Name: "stdout", Type: "stdout"}},
		Listeners: []config.Listener{{
			Name:        name,
			Module:      path,
			ModuleBytes: module,
			Sign:        true,
			Sinks:       []string{"stdout"},
			ConfigJSON:  []byte(moduleConfig),
		}},
	}
	return cfg, cfg.Normalize()
}

// compilationCache is shared by every target of the process. Modules
// compiled with the fuzzer's function listeners differ from plain ones, so
// they are kept apart from the runtime's default cache. The listeners find
// their state in the call's context, so targets can share them.
var compilationCache = sync.OnceValue(wazero.NewCompilationCache)

// startMu makes targets start one at a time. When two runtimes compile the
// same module with listeners at once, wazero v1.12.0 attaches the second
// one's listeners to the compiled module that the first may already run,
// and a process crashed that way ("split stack overflow") in our tests.
var startMu sync.Mutex

// target is one runtime with the listener under test, driven by one
// goroutine.
type target struct {
	spec       Spec
	cfg        *config.Config
	lc         config.Listener
	rt         *twruntime.Runtime
	rec        *recorder
	intakeOpts intake.Options
	signer     *recordingSigner
	types      []string
	factory    *factory
	// startErr is set when the listener failed to start (tw_init or
	// _initialize failed): that is a finding in itself.
	startErr error
}

// recordingSigner signs with an ephemeral ES256 key (fast, and no key of
// the user's is needed) and keeps the tokens of the current call, so the
// determinism check can tell a SET the guest passed on from its own output.
type recordingSigner struct {
	*signer.Signer
	mu     sync.Mutex
	tokens [][]byte
}

func (s *recordingSigner) Sign(claims []byte) ([]byte, error) {
	token, err := s.Signer.Sign(claims)
	if err == nil {
		s.mu.Lock()
		s.tokens = append(s.tokens, token)
		s.mu.Unlock()
	}
	return token, err
}

func newSigner(cfg *config.Config) (*recordingSigner, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	issuer := cfg.Issuer
	if issuer == "" {
		issuer = AdHocIssuer
	}
	s, err := signer.Parse(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), signer.Options{
		Issuer:  issuer,
		Profile: signer.Profile(cfg.Signing.Profile),
	})
	if err != nil {
		return nil, fmt.Errorf("ephemeral signing key: %w", err)
	}
	return &recordingSigner{Signer: s}, nil
}

// newTarget starts the listener of spec. A listener that fails to start is
// not an error: the target records it in startErr.
func newTarget(ctx context.Context, spec Spec) (*target, error) {
	if spec.Listener < 0 || spec.Listener >= len(spec.Config.Listeners) {
		return nil, fmt.Errorf("listener %d: the config has %d listeners", spec.Listener, len(spec.Config.Listeners))
	}
	logger := spec.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lc := spec.Config.Listeners[spec.Listener]
	lc.PoolSize = 1
	cfg := *spec.Config
	cfg.Listeners = []config.Listener{lc}
	t := &target{spec: spec, cfg: &cfg, lc: lc, rec: &recorder{}, types: lc.Events}

	s, err := newSigner(&cfg)
	if err != nil {
		return nil, err
	}
	t.signer = s
	// Every sink becomes a line sink that discards its output: the line
	// sinks' rules (no line breaks) are the strictest a payload meets.
	opts := []twruntime.Option{
		twruntime.WithLogger(logger),
		twruntime.WithSigner(s),
		twruntime.WithBackoff(false),
		twruntime.WithCompilationCache(compilationCache()),
	}
	for _, sc := range cfg.Sinks {
		opts = append(opts, twruntime.WithSink(sc.Name, sink.NewLines(io.Discard)))
	}
	t.factory = &factory{coverage: spec.Coverage}
	ctx = experimental.WithFunctionListenerFactory(withRecorder(ctx, t.rec), t.factory)
	startMu.Lock()
	t.rt, err = twruntime.New(ctx, &cfg, opts...)
	startMu.Unlock()
	if errors.Is(err, twruntime.ErrStart) {
		t.startErr = err
		t.rt = nil
	} else if err != nil {
		return nil, err
	}
	// Like replay, an ad-hoc listener's placeholder issuer is no event's
	// issuer, so the inputs written out replay as they ran here.
	eventIssuer := cfg.EventIssuer()
	if cfg.Issuer == AdHocIssuer {
		eventIssuer = cfg.Intake.DefaultIssuer
	}
	t.intakeOpts = intake.Options{
		MaxEventBytes: int(cfg.Intake.MaxEventBytes),
		DefaultIssuer: eventIssuer,
		Now:           func() time.Time { return time.Unix(1767600000, 0) },
	}
	return t, nil
}

func (t *target) close(ctx context.Context) {
	if t.rt != nil {
		_ = t.rt.Close(ctx)
	}
}

// outcome is the result of running one event.
type outcome struct {
	rejected error // intake rejected the event; nothing ran
	findings []Finding
	fresh    int // guest functions reached for the first time
	memAfter uint32
	started  bool // a new instance started for this event
	output   []byte
	failed   bool // the call failed: the guest returned non-zero, trapped, timed out or exited
}

// exec normalizes raw as intake would and dispatches it.
func (t *target) exec(ctx context.Context, raw []byte) outcome {
	opts := t.intakeOpts
	// Generated ids follow from the input, so a run repeats.
	sum := sha256.Sum256(raw)
	opts.Random = mrand.NewChaCha8(sum)
	ev, err := intake.Normalize(raw, opts)
	if err != nil {
		return outcome{rejected: err}
	}
	if !slices.Contains(t.types, ev.Type) {
		return outcome{rejected: fmt.Errorf("the listener is not subscribed to %s", ev.Type)}
	}
	encoded := intake.Encode(ev)
	t.rec.reset()
	starts := t.rec.starts
	t.signer.mu.Lock()
	t.signer.tokens = t.signer.tokens[:0]
	t.signer.mu.Unlock()

	err = t.rt.DispatchEncoded(withRecorder(ctx, t.rec), ev.ID, ev.Type, encoded)
	out := outcome{fresh: t.rec.fresh, memAfter: t.rec.memAfter, started: t.rec.starts != starts}
	if err != nil {
		var ce *twruntime.CallError
		if !errors.As(err, &ce) {
			out.findings = append(out.findings, Finding{Kind: KindInternal, Detail: err.Error()})
		} else if f, ok := callFinding(ce); ok {
			out.failed = true
			out.findings = append(out.findings, f)
		} else if ce.Kind == twruntime.FailCanceled {
			out.rejected = ctx.Err()
			return out
		} else {
			out.failed = true
		}
	}
	out.findings = append(out.findings, t.hostFindings(err == nil)...)
	// Memory that was near the limit before the event and did not grow is
	// no fault of this event.
	if limit := uint64(t.lc.MemoryLimit); limit > 0 && uint64(t.rec.memAfter)*10 >= limit*9 && t.rec.memAfter > t.rec.memBefore {
		out.findings = append(out.findings, Finding{Kind: KindMemoryCap,
			Detail: fmt.Sprintf("guest memory grew from %s to %s in one event, near the %s memory_limit",
				byteSize(uint64(t.rec.memBefore)), byteSize(uint64(t.rec.memAfter)), byteSize(limit))})
	}
	out.output = t.outputDigest()
	return out
}

// timeoutRepeats is how many more times an event that timed out must time
// out before it is reported. A slow event on a loaded machine can pass the
// deadline once; a guest that loops does so every time.
const timeoutRepeats = 2

// repeats runs raw n more times and reports whether the finding with
// signature sig shows every time.
func (t *target) repeats(ctx context.Context, raw []byte, sig string, n int) bool {
	for range n {
		shown := false
		for _, f := range t.exec(ctx, raw).findings {
			shown = shown || f.signature() == sig
		}
		if !shown {
			return false
		}
	}
	return true
}

// callFinding turns a failed call into a finding, or reports false for an
// orderly failure (the guest returned non-zero).
func callFinding(ce *twruntime.CallError) (Finding, bool) {
	switch {
	case ce.Func == abi.ExportInit || ce.Func == abi.ExportInitialize || ce.Func == "instantiate":
		return Finding{Kind: KindInit, Detail: ce.Error()}, true
	case ce.Kind == twruntime.FailTrap:
		return Finding{Kind: KindTrap, Detail: ce.Message}, true
	case ce.Kind == twruntime.FailTimeout:
		return Finding{Kind: KindTimeout, Detail: ce.Error()}, true
	case ce.Kind == twruntime.FailExit:
		return Finding{Kind: KindExit, Detail: ce.Error()}, true
	case ce.Kind == twruntime.FailReturned && strings.HasPrefix(ce.Message, "listener: panic"):
		// The Go SDK recovers a panic in the handler and reports it.
		return Finding{Kind: KindPanic, Detail: ce.Message}, true
	}
	return Finding{}, false
}

// hostFindings checks the host calls of the last event. succeeded reports
// whether the guest then returned success.
//
// A count budget used up (LIMIT_EXCEEDED) is a finding, because it means
// the guest calls the host in a loop it does not bound. A size limit
// (TOO_LARGE) or a host-side failure is a finding only when the guest
// still reported success: failing the event is the orderly response.
func (t *target) hostFindings(succeeded bool) []Finding {
	var out []Finding
	seen := map[string]bool{}
	add := func(f Finding) {
		if key := f.Kind + "\x00" + f.Detail; !seen[key] {
			seen[key] = true
			out = append(out, f)
		}
	}
	for _, c := range t.rec.calls {
		if c.status >= 0 {
			continue
		}
		status := abi.Status(c.status)
		switch {
		case status == abi.StatusInvalidMemory:
			add(Finding{Kind: KindInvalidMemory, Detail: c.name + " got a pointer and length outside guest memory"})
		case status == abi.StatusLimitExceeded:
			add(Finding{Kind: KindBudget, Detail: fmt.Sprintf("%s returned %s: the per-call budget is used up", c.name, status)})
		case c.name == abi.FuncSign && status == abi.StatusInvalidArgument:
			add(Finding{Kind: KindSignRejected, Detail: "sign rejected the claims: " + signRule(t.signer.Signer, c.data)})
		case c.name == abi.FuncEmit && (status == abi.StatusNotFound || status == abi.StatusNotPermitted):
			add(Finding{Kind: KindSinkDenied, Detail: fmt.Sprintf("emit to sink %q returned %s", c.sink, status)})
		case c.name == abi.FuncEmit && status == abi.StatusInvalidArgument:
			add(Finding{Kind: KindEmitRejected, Detail: fmt.Sprintf("sink %q rejected the payload (a line sink takes no line breaks)", c.sink)})
		case succeeded && c.name != abi.FuncLog:
			add(Finding{Kind: KindIgnoredStatus, Detail: fmt.Sprintf("%s returned %s and the event still succeeded", c.name, status)})
		}
	}
	if t.rec.staleRead {
		add(Finding{Kind: KindIgnoredStatus, Detail: "result_read was called after sign failed, so the guest ignored the sign status"})
	}
	return out
}

// signRule returns the SET rule that the claims break, from the signer.
func signRule(s *signer.Signer, claims []byte) string {
	if _, err := s.Sign(claims); err != nil {
		return strings.TrimPrefix(err.Error(), signer.ErrInvalidClaims.Error()+": ")
	}
	return "(accepted on a second try)"
}

// outputDigest summarizes what the last event emitted and signed, with the
// host's SETs replaced by a placeholder (their iat and jti vary).
func (t *target) outputDigest() []byte {
	var b bytes.Buffer
	t.signer.mu.Lock()
	tokens := t.signer.tokens
	t.signer.mu.Unlock()
	for _, c := range t.rec.calls {
		switch c.name {
		case abi.FuncEmit, abi.FuncSign:
			data := c.data
			for _, tok := range tokens {
				data = bytes.ReplaceAll(data, tok, []byte("<SET>"))
			}
			fmt.Fprintf(&b, "%s %q %d %q\n", c.name, c.sink, c.status, data)
		}
	}
	return b.Bytes()
}

func byteSize(n uint64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
