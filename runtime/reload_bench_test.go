package runtime

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/tokenwire/tokenwire/runtime/config"
)

// BenchmarkLoadAuditGoDiskCache measures a restart with the Go audit
// example and a warm on-disk cache: each iteration opens the cache
// directory anew, as a new process does, then runs New and Close.
func BenchmarkLoadAuditGoDiskCache(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	s := testSigner(b)
	cfg := benchConfig(b, []config.Listener{auditListener()})
	load := func() {
		cache, _, err := OpenDiskCache(dir)
		if err != nil {
			b.Fatal(err)
		}
		rt, err := New(ctx, cfg, WithLogger(slog.New(slog.DiscardHandler)), WithSigner(s),
			WithSink("stdout", discardSink{}), WithCompilationCache(cache))
		if err != nil {
			b.Fatal(err)
		}
		if err := rt.Close(ctx); err != nil {
			b.Fatal(err)
		}
		if err := cache.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	load() // fills the directory
	b.ReportAllocs()
	for b.Loop() {
		load()
	}
}

// BenchmarkReload measures Reload from its start to the swap, with a warm
// compilation cache; the old generation drains afterwards, off the clock
// of the caller. "Unchanged" reloads the running config, which keeps the
// listener. "RebuildWAT" alternates two builds of the tagged guest and
// "RebuildGo" two configs of the Go audit example, so each iteration
// starts a new listener's first instance.
func BenchmarkReload(b *testing.B) {
	ctx := context.Background()
	d := newReloadDir(b, "echo")
	cache := wazero.NewCompilationCache()
	b.Cleanup(func() { _ = cache.Close(ctx) })

	audit := func(sink string) *config.Config {
		lc := auditListener()
		lc.Module, _ = filepath.Abs(auditModule)
		lc.ConfigJSON = []byte(`{"sink":"` + sink + `"}`)
		lc.Sinks = []string{"stdout", "other"}
		cfg := &config.Config{
			Issuer:    testIssuer,
			Sinks:     []config.Sink{{Name: "stdout", Type: "stdout"}, {Name: "other", Type: "stdout"}},
			Listeners: []config.Listener{lc},
		}
		if err := cfg.Normalize(); err != nil {
			b.Fatal(err)
		}
		return cfg
	}
	cases := []struct {
		name    string
		configs []*config.Config
	}{
		{"Unchanged", []*config.Config{d.mustConfig(taggedConfig("v1.wasm"))}},
		{"RebuildWAT", []*config.Config{d.mustConfig(taggedConfig("v1.wasm")), d.mustConfig(taggedConfig("v2.wasm"))}},
		{"RebuildGo", []*config.Config{audit("stdout"), audit("other")}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			rt, err := New(ctx, c.configs[0], WithLogger(slog.New(slog.DiscardHandler)), WithSigner(testSigner(b)),
				WithSink("stdout", discardSink{}), WithSink("other", discardSink{}), WithCompilationCache(cache))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = rt.Close(ctx) })
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				if _, err := rt.Reload(ctx, c.configs[i%len(c.configs)], "benchmark"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
