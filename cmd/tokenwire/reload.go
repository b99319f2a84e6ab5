package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

// reloader reloads the config of "tokenwire run" on SIGHUP, on the admin
// endpoint and, with reload.watch on, when the config file or a module file
// changes on disk.
//
// It watches directories, not files, so that a file replaced by rename is
// seen, as editors save. It also watches the directory above each, so that
// a swapped release directory or symbolic link is seen too, as deploy tools
// and Kubernetes ConfigMap volumes make them. After a burst of changes
// has been quiet for reload.debounce, it reloads when a watched file's
// contents differ from those last loaded or tried.
type reloader struct {
	path    string // absolute
	rt      *twruntime.Runtime
	logger  *slog.Logger
	started *config.Config // the config the daemon started with
	// setIntake, once the server runs, gives it the new decoding options.
	setIntake func(intake.Options)

	// reloading serialises reloads, so digests follow their order.
	reloading sync.Mutex

	mu sync.Mutex
	// digests holds the SHA-256 of each watched file as last loaded or
	// tried; "" for a file that could not be read.
	digests map[string]string
	watcher *fsnotify.Watcher
	dirs    []string
	// targets holds the resolved path of each watched file that is, or
	// lies below, a symbolic link.
	targets map[string]bool
}

// newReloader returns a reloader for the config file at path, which the
// daemon started from with contents of SHA-256 configDigest.
func newReloader(path, configDigest string, rt *twruntime.Runtime, started *config.Config, logger *slog.Logger) *reloader {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	rl := &reloader{path: path, rt: rt, logger: logger, started: started}
	rl.digests = map[string]string{path: configDigest}
	for _, f := range keyFiles(started) {
		rl.digests[f] = fileDigest(f)
	}
	rl.addRunning(rl.digests, true)
	return rl
}

// watchedFiles returns the files of cfg whose change a reload applies:
// each listener's module, the signing key and the token keys.
func watchedFiles(cfg *config.Config) []string {
	var files []string
	for _, lc := range cfg.Listeners {
		if lc.Module != "" {
			files = append(files, lc.Module)
		}
	}
	return append(files, keyFiles(cfg)...)
}

// keyFiles returns the signing key and token keys files cfg names.
func keyFiles(cfg *config.Config) []string {
	var files []string
	for _, f := range []string{cfg.Signing.KeyFile, cfg.Intake.TokenKeysFile} {
		if f != "" {
			files = append(files, f)
		}
	}
	return files
}

// addRunning records the module of each running listener with the digest
// of the bytes the runtime loaded. It keeps a digest digests already has
// unless overwrite is set.
func (rl *reloader) addRunning(digests map[string]string, overwrite bool) {
	for _, l := range rl.rt.Listeners() {
		module, err := filepath.Abs(l.Module)
		if err != nil {
			continue
		}
		if _, ok := digests[module]; overwrite || !ok {
			digests[module] = l.ModuleInfo.SHA256
		}
	}
}

// readConfig reads and parses the config file at path. It returns the
// SHA-256 of the bytes read even when they do not parse, and "" when the
// file cannot be read.
func readConfig(path string) (*config.Config, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("read config: %w", err)
	}
	cfg, err := config.Parse(data, path)
	return cfg, digestOf(data, nil), err
}

// reload reloads the config file. It records each watched file's digest
// from before the attempt, so a change written during the reload is seen
// afterwards.
func (rl *reloader) reload(ctx context.Context, trigger string) (*twruntime.ReloadStatus, error) {
	rl.reloading.Lock()
	defer rl.reloading.Unlock()

	cfg, configDigest, err := readConfig(rl.path)
	digests := map[string]string{rl.path: configDigest}
	if cfg != nil {
		for _, f := range watchedFiles(cfg) {
			digests[f] = fileDigest(f)
		}
	}
	var opts intake.Options
	if err == nil {
		opts, err = intakeOptions(cfg)
	}

	var status *twruntime.ReloadStatus
	if err != nil {
		status, err = rl.rt.ReloadFailed(trigger, err)
	} else {
		status, err = rl.rt.Reload(ctx, cfg, trigger)
	}
	// After a swap the running modules are the bytes just loaded; after a
	// failure, only modules the attempt did not read are added.
	rl.addRunning(digests, err == nil)
	if err == nil {
		if rl.setIntake != nil {
			rl.setIntake(opts)
		}
		rl.warnRestartOnly(cfg)
	}

	rl.mu.Lock()
	rl.digests = digests
	rl.watchDirs()
	rl.mu.Unlock()
	return status, err
}

// warnRestartOnly logs the changed settings of cfg that a reload does not
// apply.
func (rl *reloader) warnRestartOnly(cfg *config.Config) {
	was, now := rl.started, cfg
	var changed []string
	check := func(name string, differ bool) {
		if differ {
			changed = append(changed, name)
		}
	}
	check("intake.listen", now.Intake.Listen != was.Intake.Listen)
	check("intake.max_request_bytes", now.Intake.MaxRequestBytes != was.Intake.MaxRequestBytes)
	check("intake.queue_size", now.Intake.QueueSize != was.Intake.QueueSize)
	check("intake.workers", now.Intake.Workers != was.Intake.Workers)
	check("intake.auth_token_file", now.Intake.AuthTokenFile != was.Intake.AuthTokenFile)
	check("intake.drain_timeout", now.Intake.DrainTimeout != was.Intake.DrainTimeout)
	check("admin", now.Admin != was.Admin)
	check("cache_dir", now.CacheDir != was.CacheDir)
	check("reload.watch", now.Reload.WatchEnabled() != was.Reload.WatchEnabled())
	check("reload.debounce", now.Reload.Debounce != was.Reload.Debounce)
	check("outbox", !reflect.DeepEqual(now.Outbox, was.Outbox))
	check("kafka_intake", !reflect.DeepEqual(now.KafkaIntake, was.KafkaIntake))
	// Network sinks are opened at start; a reload keeps them as they were.
	for _, sc := range now.Sinks {
		if sc.Type == "stdout" || sc.Type == "file" {
			continue
		}
		i := slices.IndexFunc(was.Sinks, func(s config.Sink) bool { return s.Name == sc.Name })
		if i >= 0 {
			prev := was.Sinks[i]
			prev.Line, sc.Line = 0, 0
			check("sinks."+sc.Name, !reflect.DeepEqual(prev, sc))
		}
	}
	if changed != nil {
		rl.logger.Warn("config changes that take effect only on restart", "settings", strings.Join(changed, ", "))
	}
}

// digestOf returns the hex SHA-256 of data, or "" when err is set.
func digestOf(data []byte, err error) string {
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// fileDigest returns the hex SHA-256 of a regular file, or "" when it
// cannot be read. Other files, such as a FIFO that a secrets agent writes
// a key to, are not read, as reading would take the contents the runtime
// needs.
func fileDigest(path string) string {
	if info, err := os.Stat(path); err != nil || !info.Mode().IsRegular() {
		return ""
	}
	return digestOf(os.ReadFile(path))
}

// changed returns the watched files whose contents differ from those last
// loaded or tried.
func (rl *reloader) changed() []string {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	var changed []string
	for f, d := range rl.digests {
		if fileDigest(f) != d {
			changed = append(changed, f)
		}
	}
	slices.Sort(changed)
	return changed
}

// relevant reports whether a change of the file or directory called name
// may change a watched file. That is so when name is a watched file, a
// directory on a watched file's path, the target of a watched symbolic
// link, or a Kubernetes volume entry such as "..data". Other files in the watched directories, such as a
// file sink writing beside the config, are ignored.
func (rl *reloader) relevant(name string) bool {
	name = filepath.Clean(name)
	if strings.HasPrefix(filepath.Base(name), "..") {
		return true
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.targets[name] {
		return true
	}
	for f := range rl.digests {
		if f == name || strings.HasPrefix(f, name+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// watchDirs watches, for each watched file, its directory, the directory
// above it and the directory of its symbolic link target. It drops the
// previous watches first, because a directory swapped by rename keeps its
// old watch under its old path. The caller holds mu.
func (rl *reloader) watchDirs() {
	if rl.watcher == nil {
		return
	}
	for _, dir := range rl.dirs {
		_ = rl.watcher.Remove(dir)
	}
	rl.dirs = rl.dirs[:0]
	rl.targets = map[string]bool{}
	for f := range rl.digests {
		dirs := []string{filepath.Dir(f), filepath.Dir(filepath.Dir(f))}
		if target, err := filepath.EvalSymlinks(f); err == nil && target != f {
			rl.targets[target] = true
			dirs = append(dirs, filepath.Dir(target))
		}
		for _, dir := range dirs {
			if slices.Contains(rl.dirs, dir) {
				continue
			}
			if err := rl.watcher.Add(dir); err != nil {
				if !errors.Is(err, os.ErrNotExist) {
					rl.logger.Warn("cannot watch a directory for changes; reload with SIGHUP", "directory", dir, "error", err)
				}
				continue
			}
			rl.dirs = append(rl.dirs, dir)
		}
	}
}

// run serves SIGHUP, received on hup, and, when watch is true, file
// changes, until ctx ends.
func (rl *reloader) run(ctx context.Context, hup <-chan os.Signal, watch bool, debounce time.Duration) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if watch {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			rl.logger.Warn("cannot watch files for changes; reload with SIGHUP or POST /v1/admin/reload", "error", err)
		} else {
			defer w.Close()
			rl.mu.Lock()
			rl.watcher = w
			rl.watchDirs()
			rl.mu.Unlock()
			events, errs = w.Events, w.Errors
		}
	}

	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_, _ = rl.reload(ctx, "SIGHUP")
		case ev := <-events:
			if rl.relevant(ev.Name) {
				quiet.Reset(debounce)
			}
		case err := <-errs:
			rl.logger.Warn("file watch error", "error", err)
		case <-quiet.C:
			if changed := rl.changed(); len(changed) > 0 {
				_, _ = rl.reload(ctx, fmt.Sprintf("file changed: %s", strings.Join(changed, ", ")))
			}
		}
	}
}
