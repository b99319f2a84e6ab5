package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/signer"
	"github.com/tokenwire/tokenwire/runtime/sink"
)

// generation is the set of objects one configuration built: its listeners,
// with routing by event type, its sinks and its signer. Generations share listeners and
// sinks whose settings did not change, so a reload keeps their warm
// instances and open files. Each shared object counts the generations that
// hold it, and closes when the last one releases it.
type generation struct {
	id       uint64
	cfg      *config.Config
	loadedAt time.Time
	entries  []entry
	routes   []route
	sinks    map[string]*sharedSink
	signer   Signer
	// signerKey identifies the key file contents and signing settings, so
	// a reload that changes neither keeps the signer.
	signerKey string
	// envs are the host environments of the generation's listeners,
	// stored into reused listeners when the generation goes live.
	envs map[*listener]*listenerEnv

	// active counts dispatches in the generation, in one shard per P so
	// that dispatches on different CPUs write different cache lines.
	// retire adds retiredMark to every shard, which makes each negative,
	// so enter fails from then on. A shard has drained when its count
	// returns to retiredMark, and drained closes when every shard has.
	active    []activeShard
	undrained atomic.Int32 // shards that have not drained
	drained   chan struct{}
	// retired closes when retire has let go of g's listeners and sinks.
	// olderRetired is that of the generation g replaced, nil for the first.
	// A kept listener emits to the sinks of the newest generation even
	// while a call counted in an older one runs, so g closes its sinks only
	// after every older generation has drained.
	retired      chan struct{}
	olderRetired chan struct{}
}

// entry is one configured listener of a generation.
type entry struct {
	cfg config.Listener
	l   *listener
}

// listenerEnv is the environment a listener's host functions reach: the
// signer and the sinks. A reload stores a new one into every listener it keeps.
type listenerEnv struct {
	signer Signer
	sinks  map[string]sink.Sink // every known sink; nil when not granted
}

// sharedSink is a sink held by one or more generations.
type sharedSink struct {
	cfg   config.Sink // Line zeroed, for comparison
	s     sink.Sink
	owned bool // opened from config, so closed by the runtime
	refs  atomic.Int32
}

// route is the listeners of one event type, in config order.
type route struct {
	eventType string
	listeners []*listener
}

// addRoute subscribes l to eventType.
func (g *generation) addRoute(eventType string, l *listener) {
	for i := range g.routes {
		if g.routes[i].eventType == eventType {
			g.routes[i].listeners = append(g.routes[i].listeners, l)
			return
		}
	}
	g.routes = append(g.routes, route{eventType: eventType, listeners: []*listener{l}})
}

// listenersOf returns the listeners subscribed to eventType. A config
// names a handful of event types, so a scan that compares lengths first
// costs less than hashing the type for a map.
func (g *generation) listenersOf(eventType string) []*listener {
	for i := range g.routes {
		if g.routes[i].eventType == eventType {
			return g.routes[i].listeners
		}
	}
	return nil
}

const retiredMark = math.MinInt64 / 2

// activeShard is one P's count of dispatches in a generation.
type activeShard struct {
	n       atomic.Int64
	drained atomic.Bool
	_       [shardPadding]byte
}

// enter counts a dispatch in, or reports that g was retired.
func (g *generation) enter(at *home) bool {
	if g.active[at.index].n.Add(1) > 0 {
		return true
	}
	g.exit(at)
	return false
}

// exit counts a dispatch out.
func (g *generation) exit(at *home) {
	s := &g.active[at.index]
	if s.n.Add(-1) == retiredMark {
		g.shardDrained(s)
	}
}

// shardDrained records that s has drained. A dispatch that fails to enter
// a retired generation returns the count to retiredMark again, so only
// the first report counts.
func (g *generation) shardDrained(s *activeShard) {
	if s.drained.CompareAndSwap(false, true) && g.undrained.Add(-1) == 0 {
		close(g.drained)
	}
}

// stopEntering makes enter fail from now on. drained closes once the
// dispatches in flight have exited.
func (g *generation) stopEntering() {
	for i := range g.active {
		if s := &g.active[i]; s.n.Add(retiredMark) == retiredMark {
			g.shardDrained(s)
		}
	}
}

// retire stops new dispatches into g, waits until those in flight finish or
// ctx ends, then lets go of g's listeners and sinks, closing those no other
// generation holds.
func (g *generation) retire(ctx context.Context, logger *slog.Logger) error {
	g.stopEntering()
	defer close(g.retired)
	select {
	case <-g.drained:
	case <-ctx.Done():
		logger.Warn("listeners did not finish their in-flight events in time; closing them", "generation", g.id)
	}
	if g.olderRetired != nil {
		select {
		case <-g.olderRetired:
		case <-ctx.Done():
		}
	}
	return g.release(ctx)
}

// release lets go of g's listeners and sinks. It is also how a generation
// that never went live is undone.
func (g *generation) release(ctx context.Context) error {
	var errs []error
	for _, e := range g.entries {
		if e.l.refs.Add(-1) == 0 {
			if err := e.l.close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("listener %q: %w", e.cfg.Name, err))
			}
		}
	}
	for name, s := range g.sinks {
		if s.refs.Add(-1) == 0 && s.owned {
			if err := s.s.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("sink %q: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// build makes the generation for cfg, reusing from old (nil at start) every
// listener and sink whose settings are unchanged. It starts every new
// listener's first instance, tw_init included. On error, everything it
// made is closed and old is untouched.
func (r *Runtime) build(ctx context.Context, cfg *config.Config, old *generation) (g *generation, changes []string, err error) {
	g = &generation{
		cfg:     cfg,
		sinks:   map[string]*sharedSink{},
		envs:    map[*listener]*listenerEnv{},
		active:  make([]activeShard, r.homes.n),
		drained: make(chan struct{}),
		retired: make(chan struct{}),
	}
	g.undrained.Store(int32(len(g.active)))
	defer func() {
		if err != nil {
			_ = g.release(context.WithoutCancel(ctx))
			g = nil
		}
	}()

	if g.signer, g.signerKey, err = r.buildSigner(cfg, old); err != nil {
		return g, nil, err
	}
	if old != nil && g.signerKey != old.signerKey {
		changes = append(changes, "signer replaced: the key file, issuer or signing settings changed")
	}
	if err := r.buildSinks(cfg, old, g, &changes); err != nil {
		return g, nil, err
	}

	for _, lc := range cfg.Listeners {
		l, change, err := r.buildListener(ctx, lc, old, g)
		if err != nil {
			return g, nil, fmt.Errorf("%s listener %q: %w", cfg.Location(lc.Line), lc.Name, err)
		}
		g.entries = append(g.entries, entry{cfg: lc, l: l})
		for _, t := range lc.Events {
			g.addRoute(t, l)
		}
		if change != "" {
			changes = append(changes, change)
		}
	}
	if old != nil {
		for _, e := range old.entries {
			if g.find(e.cfg.Name) == nil {
				changes = append(changes, fmt.Sprintf("listener %q removed", e.cfg.Name))
			}
		}
	}
	return g, changes, nil
}

// find returns the entry of the listener called name, or nil.
func (g *generation) find(name string) *entry {
	for i := range g.entries {
		if g.entries[i].cfg.Name == name {
			return &g.entries[i]
		}
	}
	return nil
}

// buildSigner returns the signer for cfg, reusing old's when the key file
// contents and signing settings are the same.
func (r *Runtime) buildSigner(cfg *config.Config, old *generation) (Signer, string, error) {
	if r.opts.signer != nil {
		return r.opts.signer, "option", nil
	}
	if cfg.Signing.KeyFile == "" {
		return nil, "", nil
	}
	data, err := os.ReadFile(cfg.Signing.KeyFile)
	if err != nil {
		return nil, "", fmt.Errorf("signing.key_file: %w", err)
	}
	sum := sha256.New()
	sum.Write(data)
	fmt.Fprintf(sum, "\x00%s\x00%s\x00%s\x00%s", cfg.Issuer, cfg.Signing.KeyID, cfg.Signing.Algorithm, cfg.Signing.Profile)
	key := hex.EncodeToString(sum.Sum(nil))
	if old != nil && old.signerKey == key {
		return old.signer, key, nil
	}
	s, err := signer.Parse(data, signer.Options{
		Issuer:    cfg.Issuer,
		KeyID:     cfg.Signing.KeyID,
		Algorithm: cfg.Signing.Algorithm,
		Profile:   signer.Profile(cfg.Signing.Profile),
	})
	if err != nil {
		return nil, "", fmt.Errorf("signing.key_file %s: %w", cfg.Signing.KeyFile, err)
	}
	return s, key, nil
}

// buildSinks fills g.sinks, reusing old's sinks whose settings are the same.
func (r *Runtime) buildSinks(cfg *config.Config, old *generation, g *generation, changes *[]string) error {
	for name, s := range r.opts.sinks {
		g.sinks[name] = &sharedSink{s: s}
	}
	for _, sc := range cfg.Sinks {
		if _, ok := g.sinks[sc.Name]; ok {
			continue
		}
		sc.Line = 0
		if old != nil {
			if prev := old.sinks[sc.Name]; prev != nil && prev.owned && reflect.DeepEqual(prev.cfg, sc) {
				prev.refs.Add(1)
				g.sinks[sc.Name] = prev
				continue
			}
			*changes = append(*changes, fmt.Sprintf("sink %q opened", sc.Name))
		}
		s, err := r.openSink(sc)
		if err != nil {
			return err
		}
		shared := &sharedSink{cfg: sc, s: s, owned: true}
		shared.refs.Store(1)
		g.sinks[sc.Name] = shared
	}
	return nil
}

// buildListener returns the listener for lc: old's listener of that name
// when its module and settings are unchanged, else a new one. The change
// it reports is empty for a listener kept as it was.
func (r *Runtime) buildListener(ctx context.Context, lc config.Listener, old *generation, g *generation) (*listener, string, error) {
	if lc.PoolSize < 1 {
		return nil, "", fmt.Errorf("pool_size %d: the config was not normalized: call config.Normalize before New or Reload", lc.PoolSize)
	}
	if lc.Sign && g.signer == nil {
		return nil, "", fmt.Errorf("granted sign but no signing key is configured: set signing.key_file")
	}
	code, digest, err := moduleCode(lc)
	if err != nil {
		return nil, "", err
	}
	env := &listenerEnv{signer: g.signer, sinks: make(map[string]sink.Sink, len(g.sinks))}
	for name := range g.sinks {
		env.sinks[name] = nil
	}
	for _, name := range lc.Sinks {
		env.sinks[name] = g.sinks[name].s
	}

	change := ""
	if old != nil {
		prev := old.find(lc.Name)
		var fields []string
		if prev != nil {
			fields = SettingsOf(prev.cfg, prev.l.info.SHA256).Diff(SettingsOf(lc, digest))
		}
		var rebuild bool
		change, rebuild = describeChange(lc.Name, prev != nil, fields)
		if !rebuild {
			prev.l.refs.Add(1)
			g.envs[prev.l] = env
			return prev.l, change, nil
		}
	}
	l, err := r.loadListener(ctx, lc, code, env)
	if err != nil {
		return nil, "", err
	}
	l.refs.Store(1)
	return l, change, nil
}

// Settings are the parts of a listener's configuration that a reload
// compares, with the module identified by its digest.
//
// In the status JSON the module digest appears once, as module_info.sha256.
type Settings struct {
	ModuleSHA256 string `json:"-"`
	// ConfigSHA256 is the digest of the listener's config as JSON, so
	// the status can be compared without showing the config.
	ConfigSHA256  string         `json:"config_sha256"`
	Events        []string       `json:"events"`
	Sign          bool           `json:"sign"`
	Sinks         []string       `json:"sinks"`
	Deadline      time.Duration  `json:"deadline_ns"`
	StartDeadline time.Duration  `json:"start_deadline_ns"`
	MemoryLimit   int64          `json:"memory_limit"`
	PoolSize      int            `json:"pool_size"`
	Budgets       config.Budgets `json:"budgets"`
}

// SettingsOf returns the settings of lc, whose module has the given
// SHA-256 digest.
func SettingsOf(lc config.Listener, moduleSHA256 string) Settings {
	return Settings{
		ModuleSHA256:  moduleSHA256,
		ConfigSHA256:  configDigest(lc.ConfigJSON),
		Events:        lc.Events,
		Sign:          lc.Sign,
		Sinks:         lc.Sinks,
		Deadline:      lc.Deadline.Std(),
		StartDeadline: lc.StartDeadline.Std(),
		MemoryLimit:   int64(lc.MemoryLimit),
		PoolSize:      lc.PoolSize,
		Budgets:       lc.Budgets,
	}
}

// Diff lists the config keys whose values differ between s and t, in
// config order: "module" stands for the module's contents.
func (s Settings) Diff(t Settings) []string {
	var fields []string
	check := func(name string, differ bool) {
		if differ {
			fields = append(fields, name)
		}
	}
	check("module", s.ModuleSHA256 != t.ModuleSHA256)
	check("events", !slices.Equal(s.Events, t.Events))
	check("config", s.ConfigSHA256 != t.ConfigSHA256)
	check("sign", s.Sign != t.Sign)
	check("sinks", !slices.Equal(s.Sinks, t.Sinks))
	check("deadline", s.Deadline != t.Deadline)
	check("start_deadline", s.StartDeadline != t.StartDeadline)
	check("memory_limit", s.MemoryLimit != t.MemoryLimit)
	check("pool_size", s.PoolSize != t.PoolSize)
	check("budgets", s.Budgets != t.Budgets)
	return fields
}

// configDigest returns the hex SHA-256 of a listener's config JSON.
func configDigest(configJSON []byte) string {
	sum := sha256.Sum256(configJSON)
	return hex.EncodeToString(sum[:])
}

// describeChange describes what a reload does to the listener called name,
// which existed before or not and whose settings differ in fields. It
// reports whether the listener gets new instances: only a change of
// events, which changes routing alone, keeps them. The description is
// empty for a listener kept as it was.
func describeChange(name string, existed bool, fields []string) (change string, rebuild bool) {
	switch {
	case !existed:
		return fmt.Sprintf("listener %q added", name), true
	case slices.ContainsFunc(fields, func(f string) bool { return f != "events" }):
		return fmt.Sprintf("listener %q rebuilt: %s changed", name, strings.Join(fields, ", ")), true
	case len(fields) > 0:
		return fmt.Sprintf("listener %q rerouted: %s changed", name, strings.Join(fields, ", ")), false
	default:
		return "", false
	}
}

// PlanReload lists what reloading from the running listeners to candidate
// would change, in the words Reload's status uses, reading each candidate
// module to compare digests. An unchanged listener is listed as kept.
func PlanReload(running []ListenerStatus, candidate *config.Config) ([]string, error) {
	var plan []string
	seen := map[string]bool{}
	for _, lc := range candidate.Listeners {
		_, digest, err := moduleCode(lc)
		if err != nil {
			return nil, fmt.Errorf("%s listener %q: %w", candidate.Location(lc.Line), lc.Name, err)
		}
		seen[lc.Name] = true
		i := slices.IndexFunc(running, func(s ListenerStatus) bool { return s.Name == lc.Name })
		var fields []string
		if i >= 0 {
			fields = running[i].ReloadSettings().Diff(SettingsOf(lc, digest))
		}
		change, _ := describeChange(lc.Name, i >= 0, fields)
		if change == "" {
			change = fmt.Sprintf("listener %q kept: unchanged, its instances stay warm", lc.Name)
		}
		plan = append(plan, change)
	}
	for _, s := range running {
		if !seen[s.Name] {
			plan = append(plan, fmt.Sprintf("listener %q removed", s.Name))
		}
	}
	return plan, nil
}
