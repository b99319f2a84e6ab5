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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
	"github.com/tokenwire/tokenwire/runtime/internal/wasmbin"
	"github.com/tokenwire/tokenwire/runtime/signer"
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

// Runtime dispatches events to the listeners of one configuration.
type Runtime struct {
	cfg       *config.Config
	logger    *slog.Logger
	signer    Signer
	listeners []*listener
	byType    map[string][]*listener
	sinks     map[string]sink.Sink
	ownSinks  []sink.Sink
	noBackoff bool

	mu       sync.RWMutex
	closed   bool
	inFlight sync.WaitGroup
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
	r := &Runtime{cfg: cfg, logger: o.logger, signer: o.signer, noBackoff: o.noBackoff, byType: map[string][]*listener{}, sinks: map[string]sink.Sink{}}

	if err := r.openSinks(cfg, o); err != nil {
		r.closeSinks(ctx)
		return nil, err
	}
	if r.signer == nil && cfg.Signing.KeyFile != "" {
		s, err := signer.LoadFile(cfg.Signing.KeyFile, signer.Options{
			Issuer:    cfg.Issuer,
			KeyID:     cfg.Signing.KeyID,
			Algorithm: cfg.Signing.Algorithm,
			Profile:   signer.Profile(cfg.Signing.Profile),
		})
		if err != nil {
			r.closeSinks(ctx)
			return nil, fmt.Errorf("signing key: %w", err)
		}
		r.signer = s
	}

	for i := range cfg.Listeners {
		l, err := r.loadListener(ctx, cfg.Listeners[i], o.cache)
		if err != nil {
			_ = r.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("%s listener %q: %w", cfg.Location(cfg.Listeners[i].Line), cfg.Listeners[i].Name, err)
		}
		r.listeners = append(r.listeners, l)
		for _, t := range l.cfg.Events {
			r.byType[t] = append(r.byType[t], l)
		}
		r.logger.Info("listener loaded", "listener", l.cfg.Name, "module_sha256", l.info.SHA256, "events", strings.Join(l.cfg.Events, ","))
	}
	return r, nil
}

func (r *Runtime) openSinks(cfg *config.Config, o options) error {
	for name, s := range o.sinks {
		r.sinks[name] = s
	}
	for _, sc := range cfg.Sinks {
		if _, ok := r.sinks[sc.Name]; ok {
			continue
		}
		var s sink.Sink
		switch sc.Type {
		case "stdout":
			s = sink.NewLines(o.stdout)
		case "file":
			f, err := sink.OpenFile(sc.Path, sink.FsyncPolicy(sc.Fsync), sc.FsyncInterval.Std())
			if err != nil {
				return fmt.Errorf("sink %q: %w", sc.Name, err)
			}
			s = f
		default:
			return fmt.Errorf("sink %q: type %q is unknown: use stdout or file", sc.Name, sc.Type)
		}
		r.sinks[sc.Name] = s
		r.ownSinks = append(r.ownSinks, s)
	}
	return nil
}

func (r *Runtime) loadListener(ctx context.Context, lc config.Listener, cache wazero.CompilationCache) (*listener, error) {
	code := lc.ModuleBytes
	if code == nil {
		var err error
		code, err = readModule(lc.Module)
		if err != nil {
			return nil, err
		}
	}
	if lc.Sign && r.signer == nil {
		return nil, fmt.Errorf("granted sign but no signing key is configured: set signing.key_file")
	}

	pages := uint32(lc.MemoryLimit / 65536)
	wasm := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithMemoryLimitPages(pages))
	l := &listener{
		cfg:       lc,
		logger:    r.logger.With("listener", lc.Name),
		signer:    r.signer,
		noBackoff: r.noBackoff,
		sinks:     make(map[string]sink.Sink, len(r.sinks)),
		wasm:      wasm,
		tokens:    make(chan struct{}, lc.PoolSize),
		idle:      make(chan *instance, lc.PoolSize),
	}
	for name := range r.sinks {
		l.sinks[name] = nil
	}
	for _, name := range lc.Sinks {
		l.sinks[name] = r.sinks[name]
	}
	for range lc.PoolSize {
		l.tokens <- struct{}{}
	}

	fail := func(err error) (*listener, error) {
		_ = wasm.Close(ctx)
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, wasm); err != nil {
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

	inst, err := l.acquire(ctx)
	if err != nil {
		return fail(fmt.Errorf("module %s: %w: %w", moduleName(lc), ErrStart, err))
	}
	l.release(ctx, inst)
	return l, nil
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

// Dispatch delivers ev to every listener subscribed to its type, each in its
// own goroutine, and returns when all are done. A listener's failure does not stop
// delivery to the others; the returned error is a *DispatchError listing
// each failure. ev must be valid (intake.Normalize makes it so).
func (r *Runtime) Dispatch(ctx context.Context, ev *abi.Event) error {
	return r.DispatchEncoded(ctx, ev.ID, ev.Type, intake.Encode(ev))
}

// DispatchEncoded is Dispatch for an event already encoded with
// intake.Encode, so callers that fan one event out avoid encoding twice.
func (r *Runtime) DispatchEncoded(ctx context.Context, id, eventType string, encoded []byte) error {
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return ErrClosed
	}
	r.inFlight.Add(1)
	r.mu.RUnlock()
	defer r.inFlight.Done()

	listeners := r.byType[eventType]
	if len(listeners) == 1 {
		// One listener, the common case, needs no goroutine.
		if err := listeners[0].dispatch(ctx, id, encoded); err != nil {
			return &DispatchError{EventID: id, Failures: []ListenerFailure{{Listener: listeners[0].cfg.Name, Err: err}}}
		}
		return nil
	}
	return dispatchAll(ctx, listeners, id, encoded)
}

// dispatchAll runs the listeners side by side, so a slow one delays this
// event's completion but not the other listeners' work on it.
func dispatchAll(ctx context.Context, listeners []*listener, id string, encoded []byte) error {
	errs := make([]error, len(listeners))
	var wg sync.WaitGroup
	for i, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.dispatch(ctx, id, encoded)
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

// JWKS returns the JSON JWK set of the public signing keys, or an empty set
// when no key is configured.
func (r *Runtime) JWKS() []byte {
	if r.signer == nil {
		return []byte(`{"keys":[]}`)
	}
	return r.signer.PublicJWKS()
}

// ListenerStatus describes one listener and its counters.
type ListenerStatus struct {
	Name          string
	Module        string
	ModuleInfo    ModuleInfo
	Events        []string
	Sign          bool
	Sinks         []string
	Deadline      time.Duration
	StartDeadline time.Duration
	MemoryLimit   int64
	PoolSize      int
	Budgets       config.Budgets

	Handled   int64 // events delivered, including failed and skipped ones
	Failures  int64
	Timeouts  int64
	Skipped   int64 // events not delivered because of backoff
	Instances int64
	LastError string
}

// Listeners returns the status of every listener in config order.
func (r *Runtime) Listeners() []ListenerStatus {
	out := make([]ListenerStatus, 0, len(r.listeners))
	for _, l := range r.listeners {
		s := ListenerStatus{
			Name:          l.cfg.Name,
			Module:        moduleName(l.cfg),
			ModuleInfo:    *l.info,
			Events:        l.cfg.Events,
			Sign:          l.cfg.Sign,
			Sinks:         l.cfg.Sinks,
			Deadline:      l.cfg.Deadline.Std(),
			StartDeadline: l.cfg.StartDeadline.Std(),
			MemoryLimit:   int64(l.cfg.MemoryLimit),
			PoolSize:      l.cfg.PoolSize,
			Budgets:       l.cfg.Budgets,
			Handled:       l.stats.events.Load(),
			Failures:      l.stats.failures.Load(),
			Timeouts:      l.stats.timeouts.Load(),
			Skipped:       l.stats.skipped.Load(),
			Instances:     l.stats.instances.Load(),
		}
		if msg := l.stats.lastError.Load(); msg != nil {
			s.LastError = *msg
		}
		out = append(out, s)
	}
	return out
}

// Close stops accepting events, waits for in-flight dispatches until ctx
// ends, runs tw_shutdown on every instance, and closes the modules and the
// sinks the runtime opened.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()

	done := make(chan struct{})
	go func() {
		r.inFlight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		r.logger.Warn("close timed out waiting for in-flight events")
	}

	var errs []error
	for _, l := range r.listeners {
		if err := l.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("listener %q: %w", l.cfg.Name, err))
		}
	}
	if err := r.closeSinks(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (r *Runtime) closeSinks(ctx context.Context) error {
	var errs []error
	for _, s := range r.ownSinks {
		if err := s.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	r.ownSinks = nil
	return errors.Join(errs...)
}
