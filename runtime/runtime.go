// Package runtime is the tokenwire host: it loads listener modules, keeps a
// pool of sandboxed instances per listener and dispatches token-issue events
// to them.
//
// A Runtime is safe for concurrent use. An identity server written in Go can
// embed one and call Dispatch for each token it issues:
//
//	cfg, err := config.Load("tokenwire.yaml")
//	...
//	rt, err := runtime.New(ctx, cfg, runtime.WithLogger(logger))
//	...
//	defer rt.Close(ctx)
//	err = rt.Dispatch(ctx, event)
package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
	"github.com/tokenwire/tokenwire/runtime/internal/wasmbin"
	"github.com/tokenwire/tokenwire/runtime/sink"
)

// ErrClosed is returned by Dispatch after Close.
var ErrClosed = errors.New("runtime closed")

// ErrSignerUnavailable is wrapped by a Signer error that may pass on retry,
// such as a remote key service that cannot be reached. sign then returns
// UNAVAILABLE to the guest.
var ErrSignerUnavailable = errors.New("signer unavailable")

// Signer signs Security Event Tokens for the sign host function. sign
// returns INVALID_ARGUMENT to the guest for an error wrapping
// signer.ErrInvalidClaims, UNAVAILABLE for one wrapping
// ErrSignerUnavailable, and INTERNAL for any other.
type Signer interface {
	Sign(claims []byte) ([]byte, error)
	PublicJWKS() []byte
}

// Option configures New.
type Option func(*options)

type options struct {
	logger    *slog.Logger
	signer    Signer
	sinks     map[string]sink.Sink
	stdout    io.Writer
	cache     wazero.CompilationCache
	noBackoff bool
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithSigner sets the SET signer, in place of the key file in config.
func WithSigner(s Signer) Option { return func(o *options) { o.signer = s } }

// WithSink uses s for the sink named name in place of the one config
// describes. The runtime does not close sinks given this way.
func WithSink(name string, s sink.Sink) Option {
	return func(o *options) { o.sinks[name] = s }
}

// WithBackoff turns the backoff of repeatedly failing listeners on (the
// default) or off. Off suits batch tools such as replay, where every event
// should reach every listener however many failed before it.
func WithBackoff(enabled bool) Option { return func(o *options) { o.noBackoff = !enabled } }

// WithStdout sets where stdout sinks write. Default os.Stdout.
func WithStdout(w io.Writer) Option { return func(o *options) { o.stdout = w } }

// WithCompilationCache shares compiled modules with other runtimes.
// Default: one in-memory cache per process.
func WithCompilationCache(c wazero.CompilationCache) Option {
	return func(o *options) { o.cache = c }
}

var (
	defaultCacheOnce sync.Once
	defaultCache     wazero.CompilationCache
)

func processCache() wazero.CompilationCache {
	defaultCacheOnce.Do(func() { defaultCache = wazero.NewCompilationCache() })
	return defaultCache
}

// Runtime dispatches events to the listeners of the current generation: the
// listeners, sinks and signing key built from one configuration. Reload
// builds a new generation aside and swaps it in atomically.
type Runtime struct {
	opts   options
	logger *slog.Logger
	keys   keyRing

	gen    atomic.Pointer[generation]
	nextID uint64 // generation numbers; guarded by reloadMu
	// homes gives each dispatch its shard of the generation's counter
	// and its listeners' instance slots.
	homes homes

	// reloadMu serialises Reload and Close.
	reloadMu sync.Mutex
	closed   atomic.Bool
	// builds ends when Close starts, which cancels a reload's build.
	builds     context.Context
	stopBuilds context.CancelFunc
	// draining counts retired generations that are still draining.
	draining sync.WaitGroup

	lastReload atomic.Pointer[ReloadStatus]
	lastFailed atomic.Pointer[ReloadStatus]
}

// New loads every listener of cfg: it compiles each module, checks its
// exports and imports against ABI v1 and starts one instance, running
// _initialize and tw_init, so a bad module fails here and not on the first
// event. cfg must have been normalized (config.Load does it).
func New(ctx context.Context, cfg *config.Config, opts ...Option) (*Runtime, error) {
	o := options{logger: slog.Default(), sinks: map[string]sink.Sink{}, stdout: os.Stdout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.cache == nil {
		o.cache = processCache()
	}
	r := &Runtime{opts: o, logger: o.logger}
	r.homes.init()
	r.builds, r.stopBuilds = context.WithCancel(context.Background())
	g, _, err := r.build(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	r.nextID = 1
	g.id, g.loadedAt = 1, time.Now()
	r.keys.rotate(nil, g.signer, 0)
	r.gen.Store(g)
	return r, nil
}

// openSink opens the sink sc describes: stdout and file sinks. Network
// sinks are opened by the delivery layer and passed with WithSink.
func (r *Runtime) openSink(sc config.Sink) (sink.Sink, error) {
	switch sc.Type {
	case "stdout":
		return sink.NewLines(r.opts.stdout), nil
	case "file":
		f, err := sink.OpenRotatingFile(sc.Path, sink.FsyncPolicy(sc.Fsync), sc.FsyncInterval.Std(), sink.Rotation{
			MaxBytes: int64(sc.Rotate.MaxBytes), MaxAge: sc.Rotate.MaxAge.Std(), Keep: sc.Rotate.Keep})
		if err != nil {
			return nil, fmt.Errorf("sink %q: %w", sc.Name, err)
		}
		return f, nil
	default:
		return nil, fmt.Errorf("sink %q: type %q is not opened by the runtime: pass it with WithSink (tokenwire run opens network sinks at start, so adding one takes a restart)", sc.Name, sc.Type)
	}
}

// loadListener compiles the module of lc, whose bytes are code, and starts
// its first instance.
func (r *Runtime) loadListener(ctx context.Context, lc config.Listener, code []byte, env *listenerEnv) (*listener, error) {
	pages := uint32(lc.MemoryLimit / 65536)
	wasm := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(r.opts.cache).
		WithMemoryLimitPages(pages))
	l := &listener{
		cfg:       lc,
		logger:    r.logger.With("listener", lc.Name),
		noBackoff: r.opts.noBackoff,
		wasm:      wasm,
	}
	l.pool.init(lc.PoolSize, r.homes.n)
	l.env.Store(env)

	fail := func(err error) (*listener, error) {
		_ = wasm.Close(ctx)
		return nil, err
	}
	if err := instantiateWASI(ctx, wasm); err != nil {
		return fail(fmt.Errorf("instantiate WASI: %w", err))
	}
	if err := instantiateHost(ctx, wasm); err != nil {
		return fail(fmt.Errorf("instantiate host module: %w", err))
	}
	compiled, info, err := compile(ctx, wasm, code)
	l.info = info
	if err != nil {
		return fail(fmt.Errorf("module %s: %w", moduleName(lc), err))
	}
	l.compiled = compiled

	// Any slot index is correct; the first instance waits in slot 0.
	at := &home{}
	inst, err := l.acquire(ctx, at)
	if err != nil {
		if slices.Contains(info.Exports, "_start") && !slices.Contains(info.Exports, abi.ExportInitialize) {
			err = fmt.Errorf("%w (the module is a WASI command: it exports _start and no _initialize, and tokenwire never runs _start; build it as a reactor: Go with -buildmode=c-shared, clang with -mexec-model=reactor)", err)
		}
		return fail(fmt.Errorf("module %s: %w: %w", moduleName(lc), ErrStart, err))
	}
	l.release(ctx, at, inst)
	return l, nil
}

// moduleCode returns the bytes of lc's module and checks them against its
// module_sha256 pin.
func moduleCode(lc config.Listener) ([]byte, string, error) {
	code := lc.ModuleBytes
	if code == nil {
		var err error
		code, err = readModule(lc.Module)
		if err != nil {
			return nil, "", err
		}
	}
	sum := sha256.Sum256(code)
	digest := hex.EncodeToString(sum[:])
	if lc.ModuleSHA256 != "" && lc.ModuleSHA256 != digest {
		return nil, "", fmt.Errorf("%w: module %s has SHA-256 %s but module_sha256 pins %s: deploy the pinned build or update the pin", ErrModule, moduleName(lc), digest, lc.ModuleSHA256)
	}
	return code, digest, nil
}

// Dispatch delivers ev to every listener subscribed to its type, each in its
// own goroutine, and returns when all are done. A listener's failure does not stop
// delivery to the others; the returned error is a *DispatchError listing
// each failure. ev must be valid (intake.Normalize makes it so).
func (r *Runtime) Dispatch(ctx context.Context, ev *abi.Event) error {
	return r.DispatchEncoded(ctx, ev.ID, ev.Type, intake.Encode(ev))
}

// DispatchEncoded is Dispatch for an event already encoded with
// intake.Encode, so callers that fan one event out avoid encoding twice.
//
// The event goes to the listeners of exactly one generation: the current
// one when the call starts. A reload that swaps generations meanwhile lets
// the call finish on the old one before that one closes.
func (r *Runtime) DispatchEncoded(ctx context.Context, id, eventType string, encoded []byte) error {
	at := r.homes.get()
	defer r.homes.put(at)
	g := r.enter(at)
	if g == nil {
		return ErrClosed
	}
	defer g.exit(at)

	listeners := g.listenersOf(eventType)
	if len(listeners) == 1 {
		// One listener, the common case, needs no goroutine.
		if err := listeners[0].dispatch(ctx, at, id, encoded); err != nil {
			return &DispatchError{EventID: id, Failures: []ListenerFailure{{Listener: listeners[0].cfg.Name, Err: err}}}
		}
		return nil
	}
	return dispatchAll(ctx, at, listeners, id, encoded)
}

// enter returns the current generation with the caller counted in, or nil
// after Close.
func (r *Runtime) enter(at *home) *generation {
	for {
		g := r.gen.Load()
		if g.enter(at) {
			return g
		}
		if r.closed.Load() {
			return nil
		}
		// g was retired after the load; the swap stored its successor
		// before retiring it, so the next load finds that.
	}
}

// dispatchAll runs the listeners side by side, so a slow one delays this
// event's completion but not the other listeners' work on it.
func dispatchAll(ctx context.Context, at *home, listeners []*listener, id string, encoded []byte) error {
	errs := make([]error, len(listeners))
	var wg sync.WaitGroup
	for i, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.dispatch(ctx, at, id, encoded)
		}()
	}
	wg.Wait()

	var failures []ListenerFailure
	for i, err := range errs {
		if err != nil {
			failures = append(failures, ListenerFailure{Listener: listeners[i].cfg.Name, Err: err})
		}
	}
	if failures != nil {
		return &DispatchError{EventID: id, Failures: failures}
	}
	return nil
}

// ListenerFailure is one listener's failure on an event.
type ListenerFailure struct {
	Listener string
	Err      error
}

// DispatchError reports the listeners that failed on one event.
type DispatchError struct {
	EventID  string
	Failures []ListenerFailure
}

func (e *DispatchError) Error() string {
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = fmt.Sprintf("listener %q: %v", f.Listener, f.Err)
	}
	return fmt.Sprintf("event %s: %s", e.EventID, strings.Join(parts, "; "))
}

// Unwrap returns each listener's error.
func (e *DispatchError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}

// JWKS returns the JSON JWK set of the public signing keys: the current
// key and, for signing.previous_key_overlap after a reload replaced it, the
// previous ones. It is an empty set when no key is configured.
func (r *Runtime) JWKS() []byte {
	return r.keys.jwks(time.Now())
}

// Close stops accepting events, waits for in-flight dispatches until ctx
// ends, runs tw_shutdown on every instance, and closes the modules and the
// sinks the runtime opened.
func (r *Runtime) Close(ctx context.Context) error {
	if r.closed.Swap(true) {
		return nil
	}
	// A reload in progress stops starting listeners and fails, so Close
	// does not wait out their start deadlines.
	r.stopBuilds()
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	g := r.gen.Load()
	err := g.retire(ctx, r.logger)

	done := make(chan struct{})
	go func() {
		r.draining.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		r.logger.Warn("close timed out waiting for replaced listeners to drain")
	}
	return err
}

// readModule reads a module file of at most wasmbin.DefaultLimits.ModuleBytes.
func readModule(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("module %s not found: check the listener's module path: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read module: %w", err)
	}
	defer f.Close()
	limit := wasmbin.DefaultLimits.ModuleBytes
	code, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", path, err)
	}
	if len(code) > limit {
		return nil, fmt.Errorf("%w: module %s is larger than %d bytes", ErrModule, path, limit)
	}
	return code, nil
}

func moduleName(lc config.Listener) string {
	if lc.Module != "" {
		return lc.Module
	}
	return "(in memory)"
}
