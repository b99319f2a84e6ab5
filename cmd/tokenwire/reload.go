package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
)

// reloader reloads the config of "tokenwire run" on SIGHUP, on the admin
// endpoint and, with reload.watch on, when the config file or a module file
// of a running listener changes on disk.
//
// It watches the directories that hold those files, not the files, so a
// file replaced by rename (as editors save, and as Kubernetes updates a
// mounted ConfigMap by swapping a symlink) is seen too. After a burst of
// changes has been quiet for reload.debounce, it reloads when a watched
// file's contents differ from the last reload's.
type reloader struct {
	path    string
	rt      *twruntime.Runtime
	logger  *slog.Logger
	started *config.Config // the config the daemon started with

	mu sync.Mutex
	// digests holds the SHA-256 of each watched file at the last reload
	// attempt; "" for a file that could not be read.
	digests map[string]string
	watcher *fsnotify.Watcher
	dirs    map[string]bool
}

func newReloader(path string, rt *twruntime.Runtime, started *config.Config, logger *slog.Logger) *reloader {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	rl := &reloader{path: path, rt: rt, logger: logger, started: started, dirs: map[string]bool{}}
	rl.mu.Lock()
	rl.digests = rl.snapshot()
	rl.mu.Unlock()
	return rl
}

// reload reloads the config file and records the watched files' contents.
func (rl *reloader) reload(ctx context.Context, trigger string) (*twruntime.ReloadStatus, error) {
	status, err := rl.rt.ReloadFile(ctx, rl.path, trigger)
	if err == nil {
		rl.warnRestartOnly()
	}
	rl.mu.Lock()
	rl.digests = rl.snapshot()
	rl.watchDirs()
	rl.mu.Unlock()
	return status, err
}

// warnRestartOnly logs the changed settings that a reload does not apply.
func (rl *reloader) warnRestartOnly() {
	cfg, err := config.Load(rl.path)
	if err != nil {
		return
	}
	var changed []string
	if !reflect.DeepEqual(cfg.Intake, rl.started.Intake) {
		changed = append(changed, "intake")
	}
	if cfg.Admin != rl.started.Admin {
		changed = append(changed, "admin")
	}
	if cfg.CacheDir != rl.started.CacheDir {
		changed = append(changed, "cache_dir")
	}
	if changed != nil {
		rl.logger.Warn("config changes that take effect only on restart", "sections", strings.Join(changed, ", "))
	}
}

// files returns the config file and the module files of the running
// listeners.
func (rl *reloader) files() []string {
	files := []string{rl.path}
	for _, l := range rl.rt.Listeners() {
		module, err := filepath.Abs(l.Module)
		if err == nil && !slices.Contains(files, module) {
			files = append(files, module)
		}
	}
	return files
}

// snapshot returns the digest of each watched file. The caller holds mu.
func (rl *reloader) snapshot() map[string]string {
	digests := map[string]string{}
	for _, f := range rl.files() {
		digests[f] = fileDigest(f)
	}
	return digests
}

// fileDigest returns the hex SHA-256 of a file, or "" when it cannot be
// read.
func fileDigest(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// changed returns the watched files whose contents differ from the last
// reload attempt's.
func (rl *reloader) changed() []string {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	var changed []string
	now := rl.snapshot()
	for f, d := range now {
		if prev, ok := rl.digests[f]; !ok || prev != d {
			changed = append(changed, f)
		}
	}
	slices.Sort(changed)
	return changed
}

// relevant reports whether a change of the file called name may change a
// watched file: it is one, or the target of one that is a symbolic link,
// or a Kubernetes volume entry such as "..data", whose swap updates a
// mounted ConfigMap. Other files in the directories, such as a file sink
// writing beside the config, are ignored.
func (rl *reloader) relevant(name string) bool {
	name = filepath.Clean(name)
	if strings.HasPrefix(filepath.Base(name), "..") {
		return true
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for f := range rl.digests {
		if f == name {
			return true
		}
		if target, err := filepath.EvalSymlinks(f); err == nil && target == name {
			return true
		}
	}
	return false
}

// watchDirs adds a watch on each directory of a watched file. The caller
// holds mu.
func (rl *reloader) watchDirs() {
	if rl.watcher == nil {
		return
	}
	for f := range rl.digests {
		dirs := []string{filepath.Dir(f)}
		if target, err := filepath.EvalSymlinks(f); err == nil {
			dirs = append(dirs, filepath.Dir(target))
		}
		for _, dir := range dirs {
			if rl.dirs[dir] {
				continue
			}
			if err := rl.watcher.Add(dir); err != nil {
				rl.logger.Warn("cannot watch a directory for changes; reload with SIGHUP", "directory", dir, "error", err)
				continue
			}
			rl.dirs[dir] = true
		}
	}
}

// run serves SIGHUP and, when watch is true, file changes, until ctx ends.
func (rl *reloader) run(ctx context.Context, watch bool, debounce time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

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
