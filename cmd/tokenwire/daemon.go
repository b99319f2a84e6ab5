package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/tokenwire/tokenwire/internal/server"
	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
)

// httpShutdownTimeout bounds how long a stop waits for requests in progress.
const httpShutdownTimeout = 5 * time.Second

// cmdRun runs the daemon until ctx ends (SIGINT or SIGTERM), then drains
// accepted events and exits.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "[--config FILE] [--listen ADDR]", stderr)
	configPath := fs.String("config", "", "config `file` (YAML); without it, run the embedded default: the audit listener, an ephemeral key, the stdout sink")
	listen := fs.String("listen", "", "HTTP listen `address`, overriding intake.listen (default "+config.DefaultListen+")")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return parseStatus(err)
	}
	if len(positional) > 0 {
		fmt.Fprintf(stderr, "tokenwire run: unexpected argument %q\n", positional[0])
		return exitUsage
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire run: %v\n", err)
		return exitUsage
	}

	// A SIGHUP from now on requests a reload. Without this, one that
	// arrives while the listeners load would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var (
		cfg          *config.Config
		configDigest string
	)
	if *configPath != "" {
		// Reloads read the config by its absolute path, so the first load
		// does too: relative paths in it then resolve the same way, and a
		// reload of an unchanged file changes nothing.
		if abs, err := filepath.Abs(*configPath); err == nil {
			*configPath = abs
		}
		cfg, configDigest, err = readConfig(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "tokenwire run: %v\n", err)
			return exitUsage
		}
	}
	addr := *listen
	switch {
	case addr != "":
	case cfg != nil:
		addr = cfg.Intake.Listen
	default:
		addr = config.DefaultListen
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire run: listen on %s: %v: give --listen a free host:port, such as 127.0.0.1:8080\n", addr, err)
		return exitUsage
	}
	defer ln.Close()
	if cfg == nil {
		// The embedded default names its own address as issuer, so a
		// receiver finds the keys at {iss}/.well-known/jwks.json.
		cfg = defaultConfig(ln.Addr().String())
		if err := cfg.Normalize(); err != nil {
			fmt.Fprintf(stderr, "tokenwire run: embedded default config: %v\n", err)
			return exitUsage
		}
		logger.Info("no --config given: running the embedded default (audit listener, stdout sink)")
	}

	policy := requireKey
	if *configPath == "" {
		policy = ephemeralForDefault
	}
	var serverOpts []server.Option
	if cfg.Intake.AuthTokenFile != "" {
		// Read before the listeners load, which can take seconds.
		token, err := readToken("intake.auth_token_file", cfg.Intake.AuthTokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "tokenwire run: %v\n", err)
			return exitUsage
		}
		serverOpts = append(serverOpts, server.WithAuthToken(token))
	} else if !isLoopback(ln.Addr()) {
		logger.Warn("POST /v1/events accepts events without authentication on a non-loopback address: set intake.auth_token_file", "address", ln.Addr().String())
	}
	var adminToken []byte
	if cfg.Admin.TokenFile != "" {
		adminToken, err = readToken("admin.token_file", cfg.Admin.TokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "tokenwire run: %v\n", err)
			return exitUsage
		}
	} else if !isLoopback(ln.Addr()) {
		logger.Warn("GET /v1/status shows listener names, module paths and errors without authentication on a non-loopback address: set admin.token_file", "address", ln.Addr().String())
	}
	var runtimeOpts []twruntime.Option
	if cache := openCache(cfg.CacheDir, logger); cache != nil {
		defer closeWith(context.Background(), logger, "compilation cache", cache)
		runtimeOpts = append(runtimeOpts, twruntime.WithCompilationCache(cache))
	}
	dlv, deliveryOpts, err := openDelivery(cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire run: %v\n", err)
		return exitUsage
	}
	defer func() {
		if err := dlv.Close(); err != nil {
			logger.Error("close failed", "what", "outbox", "error", err)
		}
	}()
	serverOpts = append(serverOpts, deliveryOpts...)
	runtimeOpts = append(runtimeOpts, dlv.Options()...)
	rt, intakeOpts, err := startRuntime(ctx, cfg, policy, logger, stdout, runtimeOpts...)
	if err != nil && ctx.Err() != nil {
		// SIGINT or SIGTERM arrived while the listeners loaded.
		logger.Info("stopped before startup completed")
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire run: %v\n", err)
		return exitUsage
	}

	var rl *reloader
	if *configPath != "" {
		rl = newReloader(*configPath, configDigest, rt, cfg, logger)
		if adminToken != nil {
			serverOpts = append(serverOpts, server.WithAdmin(adminToken, rl.reload))
		}
	}
	srv := server.New(rt, cfg.Intake, intakeOpts, logger, serverOpts...)
	reloadCtx, stopReloads := context.WithCancel(ctx)
	defer stopReloads()
	if rl != nil {
		rl.setIntake = srv.SetIntake
		go rl.run(reloadCtx, hup, cfg.Reload.WatchEnabled(), cfg.Reload.Debounce.Std())
	} else {
		go ignoreHangups(reloadCtx, hup, logger)
	}
	if n, err := srv.Recover(ctx); err != nil {
		logger.Error("intake journal recovery failed", "error", err)
	} else if n > 0 {
		logger.Info("dispatching events journaled before a stop", "events", n)
	}
	stopKafka := startKafkaIntake(ctx, cfg, srv, logger)
	httpServer := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// A sender has this long to deliver a whole request body, so slow
		// bodies cannot hold connections open.
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpServer.Serve(ln) }()
	logger.Info("listening", "address", ln.Addr().String(), "events", "POST /v1/events", "jwks", "/.well-known/jwks.json")

	code := exitOK
	select {
	case <-ctx.Done():
		logger.Info("stopping: draining accepted events", "drain_timeout", cfg.Intake.DrainTimeout.String())
	case err := <-serveErr:
		logger.Error("http server failed", "error", err)
		code = exitFailure
	}

	// Requests still being read get a few seconds of their own, so a slow
	// sender cannot use up the drain time of events already accepted.
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), httpShutdownTimeout)
	if err := httpServer.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("http shutdown incomplete: closing the remaining connections", "error", err)
		_ = httpServer.Close()
	}
	cancelShutdown()
	stopKafka()
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.Intake.DrainTimeout.Std())
	defer cancel()
	if left := srv.Drain(drainCtx); left > 0 {
		if dlv.Journal() != nil {
			logger.Warn("drain timed out: the undispatched events stay in the intake journal and are dispatched on the next start", "undispatched", left)
		} else {
			logger.Error("drain timed out: events were accepted but not dispatched", "undispatched", left)
		}
		code = exitFailure
	}
	closeWith(drainCtx, logger, "runtime", rt)
	logger.Info("stopped")
	return code
}

// ignoreHangups logs each SIGHUP until ctx ends: the embedded default has
// no config file to reload.
func ignoreHangups(ctx context.Context, hup <-chan os.Signal, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			logger.Warn("SIGHUP ignored: there is no config file to reload; run with --config to reload on SIGHUP")
		}
	}
}

// readToken reads a bearer token, without surrounding whitespace, from
// path; setting is the config key that names the file.
func readToken(setting, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	token := bytes.TrimSpace(data)
	if len(token) < 16 {
		return nil, fmt.Errorf("%s %s: the token has %d bytes: use at least 16 random bytes, for example from \"openssl rand -hex 32\"", setting, path, len(token))
	}
	return token, nil
}

// openCache opens the compilation cache cache_dir names: by default a
// directory in the user's cache directory, none for "off". A directory
// that cannot be used is logged and compiled modules stay in memory.
func openCache(dir string, logger *slog.Logger) wazero.CompilationCache {
	if dir == "off" {
		return nil
	}
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			logger.Warn("no user cache directory: compiled modules stay in memory; set cache_dir", "error", err)
			return nil
		}
		dir = filepath.Join(base, "tokenwire")
	}
	cache, removed, err := twruntime.OpenDiskCache(dir)
	if err != nil {
		logger.Warn("compiled modules stay in memory", "error", err)
		return nil
	}
	if len(removed) > 0 {
		logger.Info("removed compiled modules of other wazero versions", "cache_dir", dir, "removed", removed)
	}
	return cache
}

// isLoopback reports whether addr is a loopback TCP address.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
