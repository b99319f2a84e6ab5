package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tokenwire/tokenwire/runtime/config"
)

// ReloadStatus describes one reload attempt.
type ReloadStatus struct {
	// At is when the attempt started.
	At time.Time `json:"at"`
	// Trigger names the source of the reload request, such as "SIGHUP".
	Trigger string `json:"trigger"`
	// OK reports whether the new generation went live.
	OK bool `json:"ok"`
	// Error is why the attempt failed; the previous generation serves on.
	Error string `json:"error,omitempty"`
	// Generation is the generation serving after the attempt.
	Generation uint64 `json:"generation"`
	// Changes lists what the reload changed, one line each.
	Changes []string `json:"changes,omitempty"`
	// Took is how long building and swapping took.
	Took time.Duration `json:"took_ns"`
}

// Reload builds a generation from cfg beside the running one and swaps it
// in: it reads and checks every module, compiles and starts each new or
// changed listener (tw_init included) and opens new sinks and keys. A
// listener whose module digest and settings are unchanged keeps its warm
// instances. Only when all of that succeeds does the new generation take
// events, with one atomic store. The old generation then drains in the
// background: in-flight events finish, tw_shutdown runs and the listeners
// only it held close, within cfg.Reload.DrainTimeout.
//
// On any error the running generation keeps serving, unchanged, and the
// error names the config line or module at fault. trigger is recorded in
// the status, for example "SIGHUP" or "config file changed". cfg must have
// been normalized.
func (r *Runtime) Reload(ctx context.Context, cfg *config.Config, trigger string) (*ReloadStatus, error) {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if r.closed.Load() {
		return nil, ErrClosed
	}
	status := &ReloadStatus{At: time.Now(), Trigger: trigger}
	old := r.gen.Load()
	buildCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.builds, cancel)()
	g, changes, err := r.build(buildCtx, cfg, old)
	if err == nil && g.signerKey != old.signerKey {
		if err = r.keys.checkKeyID(g.signer); err != nil {
			_ = g.release(context.WithoutCancel(ctx))
		}
	}
	if err != nil {
		return r.failed(status, err)
	}

	r.nextID++
	g.id = r.nextID
	g.olderRetired = old.retired
	g.loadedAt = time.Now()
	// The JWK set lists a new key before any listener signs with it.
	if g.signerKey != old.signerKey {
		r.keys.rotate(old.signer, g.signer, cfg.Signing.PreviousKeyOverlap.Std())
	}
	for l, env := range g.envs {
		l.env.Store(env)
	}
	r.gen.Store(g)
	if len(changes) == 0 {
		changes = []string{"nothing changed"}
	}
	status.Took = time.Since(status.At)
	status.OK, status.Generation, status.Changes = true, g.id, changes
	r.lastReload.Store(status)
	r.logger.Info("reloaded", "trigger", trigger, "generation", g.id, "took", status.Took.Round(time.Microsecond), "changes", status.Changes)

	r.draining.Add(1)
	drainTimeout := cfg.Reload.DrainTimeout.Std()
	go func() {
		defer r.draining.Done()
		drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
		defer cancel()
		if err := old.retire(drainCtx, r.logger); err != nil {
			r.logger.Warn("closing replaced listeners", "generation", old.id, "error", err)
		}
	}()
	return status, nil
}

// ReloadFile is Reload with the config read from path. A config that does
// not load fails the reload the same way, and is recorded in the status.
func (r *Runtime) ReloadFile(ctx context.Context, path, trigger string) (*ReloadStatus, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return r.ReloadFailed(trigger, err)
	}
	return r.Reload(ctx, cfg, trigger)
}

// ReloadFailed records a reload that failed before Reload could run, such
// as one whose config does not parse, so that the status shows it. It
// returns the recorded status and err.
func (r *Runtime) ReloadFailed(trigger string, err error) (*ReloadStatus, error) {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	return r.failed(&ReloadStatus{At: time.Now(), Trigger: trigger}, err)
}

// failed records and logs a reload that did not go live. The caller holds
// reloadMu.
func (r *Runtime) failed(status *ReloadStatus, err error) (*ReloadStatus, error) {
	gen := r.gen.Load().id
	status.Took = time.Since(status.At)
	status.Generation = gen
	status.Error = err.Error()
	r.lastReload.Store(status)
	r.lastFailed.Store(status)
	r.logger.Error("reload failed; the running listeners keep serving", "trigger", status.Trigger, "generation", gen, "error", err)
	return status, err
}

// Status describes the running generation and the last reloads.
type Status struct {
	// Generation counts the configurations the runtime has run: 1 at
	// start, one more per successful reload.
	Generation uint64 `json:"generation"`
	// Config is the path the running configuration was read from.
	Config string `json:"config,omitempty"`
	// LoadedAt is when the generation went live.
	LoadedAt time.Time `json:"loaded_at"`
	// LastReload is the most recent reload attempt; nil before the first.
	LastReload *ReloadStatus `json:"last_reload,omitempty"`
	// LastFailedReload is the most recent attempt that failed.
	LastFailedReload *ReloadStatus `json:"last_failed_reload,omitempty"`
	// Listeners describes each listener in config order.
	Listeners []ListenerStatus `json:"listeners"`
}

// ListenerStatus describes one listener and its counters. Counters of a
// listener kept across reloads include the events of earlier generations.
type ListenerStatus struct {
	Name       string     `json:"name"`
	Module     string     `json:"module"`
	ModuleInfo ModuleInfo `json:"module_info"`
	Settings

	Handled   int64  `json:"handled"` // events delivered, including failed and skipped ones
	Failures  int64  `json:"failures"`
	Timeouts  int64  `json:"timeouts"`
	Skipped   int64  `json:"skipped"` // events not delivered because of backoff
	Instances int64  `json:"instances"`
	LastError string `json:"last_error,omitempty"`
}

// ReloadSettings returns the settings a reload compares, with the module
// digest taken from ModuleInfo, which is where the status JSON keeps it.
func (s ListenerStatus) ReloadSettings() Settings {
	settings := s.Settings
	settings.ModuleSHA256 = s.ModuleInfo.SHA256
	return settings
}

// Status returns the running generation, the last reloads and every
// listener's status.
func (r *Runtime) Status() Status {
	g := r.gen.Load()
	return Status{
		Generation:       g.id,
		Config:           g.cfg.Path,
		LoadedAt:         g.loadedAt,
		LastReload:       r.lastReload.Load(),
		LastFailedReload: r.lastFailed.Load(),
		Listeners:        g.listenerStatus(),
	}
}

// Listeners returns the status of every listener in config order.
func (r *Runtime) Listeners() []ListenerStatus {
	return r.gen.Load().listenerStatus()
}

func (g *generation) listenerStatus() []ListenerStatus {
	out := make([]ListenerStatus, 0, len(g.entries))
	for _, e := range g.entries {
		l, lc := e.l, e.cfg
		s := ListenerStatus{
			Name:       lc.Name,
			Module:     moduleName(lc),
			ModuleInfo: *l.info,
			Settings:   SettingsOf(lc, l.info.SHA256),
			Handled:    l.pool.events(),
			Failures:   l.stats.failures.Load(),
			Timeouts:   l.stats.timeouts.Load(),
			Skipped:    l.stats.skipped.Load(),
			Instances:  l.stats.instances.Load(),
		}
		if msg := l.stats.lastError.Load(); msg != nil {
			s.LastError = *msg
		}
		out = append(out, s)
	}
	return out
}

// keyRing holds the public keys the JWK set serves: the current signer's
// and, until their overlap ends, those of signers a reload replaced.
type keyRing struct {
	mu       sync.Mutex
	current  Signer
	previous []retiredKey
}

type retiredKey struct {
	keys  []json.RawMessage
	until time.Time
}

// rotate makes next the current signer; prev's public keys stay listed for
// overlap.
func (k *keyRing) rotate(prev, next Signer, overlap time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.current = next
	k.prune(time.Now())
	if prev != nil && overlap > 0 {
		k.previous = append(k.previous, retiredKey{keys: jwksKeys(prev.PublicJWKS()), until: time.Now().Add(overlap)})
	}
}

// checkKeyID returns an error when next's public key has the kid of a
// different key the JWK set serves, because a receiver that looks keys up
// by kid could then find the wrong one.
func (k *keyRing) checkKeyID(next Signer) error {
	if next == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.prune(time.Now())
	served := k.previous
	if k.current != nil {
		served = append(slices.Clip(served), retiredKey{keys: jwksKeys(k.current.PublicJWKS())})
	}
	for _, key := range jwksKeys(next.PublicJWKS()) {
		kid := keyID(key)
		for _, s := range served {
			for _, old := range s.keys {
				if keyID(old) == kid && !bytes.Equal(old, key) {
					return fmt.Errorf("signing.key_id: the new key has kid %q, which the JWK set serves for the previous key during signing.previous_key_overlap: give the new key its own key_id", kid)
				}
			}
		}
	}
	return nil
}

// prune drops the previous keys whose overlap ended before now. The caller
// holds mu.
func (k *keyRing) prune(now time.Time) {
	k.previous = slices.DeleteFunc(k.previous, func(p retiredKey) bool { return now.After(p.until) })
}

// keyID returns the "kid" member of a JWK.
func keyID(key json.RawMessage) string {
	var k struct {
		KeyID string `json:"kid"`
	}
	_ = json.Unmarshal(key, &k)
	return k.KeyID
}

// jwks returns the current key and the previous keys whose overlap has
// not ended at now, each key once.
func (k *keyRing) jwks(now time.Time) []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.current == nil && len(k.previous) == 0 {
		return []byte(`{"keys":[]}`)
	}
	var keys []json.RawMessage
	if k.current != nil {
		keys = jwksKeys(k.current.PublicJWKS())
	}
	k.prune(now)
	for _, p := range k.previous {
		for _, key := range p.keys {
			if !containsKey(keys, key) {
				keys = append(keys, key)
			}
		}
	}
	out, err := json.Marshal(struct {
		Keys []json.RawMessage `json:"keys"`
	}{keys})
	if err != nil {
		// The keys came from json.Unmarshal, so they marshal again.
		panic(fmt.Sprintf("encode JWK set: %v", err))
	}
	return out
}

// jwksKeys returns the members of a JWK set's "keys" array.
func jwksKeys(set []byte) []json.RawMessage {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(set, &doc); err != nil {
		slog.Default().Error("a signer returned an unreadable JWK set; its keys are not served", "error", err)
		return nil
	}
	return doc.Keys
}

func containsKey(keys []json.RawMessage, key json.RawMessage) bool {
	for _, k := range keys {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}
