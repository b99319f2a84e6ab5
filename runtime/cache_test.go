package runtime

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tokenwire/tokenwire/runtime/config"
)

func TestOpenDiskCacheKeepsModulesAndRemovesOtherVersions(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "wazero-v0.0.1-amd64-linux")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	unrelated := filepath.Join(dir, "notes")
	if err := os.MkdirAll(unrelated, 0o700); err != nil {
		t.Fatal(err)
	}

	cache, removed, err := OpenDiskCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close(context.Background())
	if !slices.Equal(removed, []string{"wazero-v0.0.1-amd64-linux"}) {
		t.Fatalf("removed %v, want the stale version's directory", removed)
	}
	if _, err := os.Stat(unrelated); err != nil {
		t.Fatalf("a directory wazero did not make was removed: %v", err)
	}

	cfg := &config.Config{Listeners: []config.Listener{{Name: "echo", Module: guestPath("echo")}}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	rt, err := New(context.Background(), cfg, WithCompilationCache(cache), WithLogger(testLogger(&logBuffer{})))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(filepath.Join(dir, cacheSubdir()))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no compiled module was written to the cache directory")
	}
}

func TestOpenDiskCacheNamesUnwritableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := OpenDiskCache(filepath.Join(file, "cache"))
	if err == nil {
		t.Fatal("opened a cache below a regular file")
	}
	mustContain(t, "error", err.Error(), file, "set cache_dir to a writable directory, or to off")
}
