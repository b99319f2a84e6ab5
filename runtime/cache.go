package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strings"

	"github.com/tetratelabs/wazero"
)

// OpenDiskCache returns a compilation cache that keeps compiled modules in
// dir, so a restart or a reload of a known module skips compilation. Pass
// it to New with WithCompilationCache.
//
// wazero writes into a subdirectory named after its version, architecture
// and operating system. OpenDiskCache removes the subdirectories other
// wazero versions left in dir, since nothing reads them again. It returns
// their names; a failure to remove one is not an error. The caller closes
// the cache after the runtimes that use it.
func OpenDiskCache(dir string) (cache wazero.CompilationCache, removed []string, err error) {
	cache, err = wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("compilation cache directory %s: %w: set cache_dir to a writable directory, or to off", dir, err)
	}
	current := cacheSubdir()
	if _, err := os.Stat(filepath.Join(dir, current)); err != nil {
		// wazero named its directory otherwise; leave the rest alone.
		return cache, nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return cache, nil, nil
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "wazero-") && e.Name() != current {
			if os.RemoveAll(filepath.Join(dir, e.Name())) == nil {
				removed = append(removed, e.Name())
			}
		}
	}
	return cache, removed, nil
}

// cacheSubdir returns the name of the directory wazero's file cache uses
// in this build. wazero takes its version from the build information, and
// "dev" when that does not record one, as in test binaries.
func cacheSubdir() string {
	version := "dev"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/tetratelabs/wazero" && dep.Version != "" && dep.Version != "(devel)" {
				version = dep.Version
			}
		}
	}
	return "wazero-" + version + "-" + goruntime.GOARCH + "-" + goruntime.GOOS
}
