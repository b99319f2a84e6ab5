package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

// cmdReplay dispatches a file of events through the listeners. Standard
// output carries only sink output; everything else goes to stderr.
func cmdReplay(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("replay", "[--config FILE] [--module FILE.wasm ...] [--key FILE] [--issuer URL] [EVENTS.ndjson | -]", stderr)
	configPath := fs.String("config", "", "config `file` (YAML); without it only --module listeners run")
	var modules stringList
	fs.Var(&modules, "module", "add a listener for this `module` (.wasm): every event type, sign and the stdout sink granted; repeatable")
	keyPath := fs.String("key", "", "signing key `file` (PEM or JWK), overriding signing.key_file")
	issuer := fs.String("issuer", "", "issuer `URL` of signed SETs, overriding issuer")
	moduleConfig := fs.String("module-config", "{}", "config passed to every --module listener, as a JSON `object`")
	logLevel := fs.String("log-level", "warn", "log `level`: debug, info, warn or error")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return parseStatus(err)
	}
	if len(positional) > 1 {
		fmt.Fprintf(stderr, "tokenwire replay: expected at most one events file, got %d arguments: %s\n", len(positional), strings.Join(positional, " "))
		return exitUsage
	}
	eventsPath := ""
	if len(positional) == 1 {
		eventsPath = positional[0]
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire replay: %v\n", err)
		return exitUsage
	}
	// replay prints each failure with the events file name itself.
	logger = slog.New(dropMessage{Handler: logger.Handler(), message: "listener failed on event"})

	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire replay: %v\n", err)
		return exitUsage
	}
	if *issuer != "" {
		cfg.Issuer = *issuer
	}
	if *keyPath != "" {
		cfg.Signing.KeyFile = *keyPath
	}
	if len(modules) > 0 {
		if !json.Valid([]byte(*moduleConfig)) || !strings.HasPrefix(strings.TrimSpace(*moduleConfig), "{") {
			fmt.Fprintf(stderr, "tokenwire replay: invalid --module-config %q: give a JSON object, such as '{\"claims\":[\"sub\"]}'\n", *moduleConfig)
			return exitUsage
		}
		ensureStdoutSink(cfg)
		if cfg.Issuer == "" {
			cfg.Issuer = adHocIssuer
		}
		for _, m := range modules {
			if i := slices.IndexFunc(cfg.Listeners, func(l config.Listener) bool { return l.Name == listenerName(m) }); i >= 0 {
				fmt.Fprintf(stderr, "tokenwire replay: --module %s adds a listener named %q, which %s already defines: rename the module file or leave out --config\n",
					m, listenerName(m), strings.TrimSuffix(cfg.Location(cfg.Listeners[i].Line), ":"))
				return exitUsage
			}
			cfg.Listeners = append(cfg.Listeners, config.Listener{
				Name:       listenerName(m),
				Module:     m,
				Sign:       true,
				Sinks:      []string{"stdout"},
				ConfigJSON: []byte(*moduleConfig),
			})
		}
	}
	if len(cfg.Listeners) == 0 {
		fmt.Fprintln(stderr, "tokenwire replay: no listeners: pass --config with listeners or --module FILE.wasm")
		return exitUsage
	}
	if err := cfg.Normalize(); err != nil {
		fmt.Fprintf(stderr, "tokenwire replay: %v\n", err)
		return exitUsage
	}

	in, name, closeInput, err := openEvents(eventsPath, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire replay: %v\n", err)
		return exitUsage
	}
	defer closeInput()

	rt, intakeOpts, err := startRuntime(ctx, cfg, ephemeralForReplay, logger, stdout, append(printNetworkSinks(cfg, stdout), twruntime.WithBackoff(false))...)
	if cfg.Issuer == adHocIssuer {
		// Events without an "iss" claim must not take the placeholder as
		// the issuer of their token.
		intakeOpts.DefaultIssuer = cfg.Intake.DefaultIssuer
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire replay: %v\n", err)
		return exitUsage
	}
	defer closeWith(context.Background(), logger, "runtime", rt)

	var total, invalid, failed int
	dec := intake.NewDecoder(in, intakeOpts)
	for {
		ev, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var lineErr *intake.Error
			if !errors.As(err, &lineErr) {
				fmt.Fprintf(stderr, "tokenwire replay: read %s: %v\n", name, err)
				return exitFailure
			}
			total++
			invalid++
			fmt.Fprintf(stderr, "%s:%d: %v\n", name, lineErr.Line, lineErr.Err)
			continue
		}
		total++
		if err := rt.Dispatch(ctx, ev); err != nil {
			failed++
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
		}
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "tokenwire replay: interrupted")
			return exitFailure
		}
	}
	fmt.Fprintf(stderr, "tokenwire replay: events: %d, invalid: %d, with listener failures: %d\n", total, invalid, failed)
	if invalid > 0 || failed > 0 {
		return exitFailure
	}
	return exitOK
}

// openEvents opens the events file, or stdin for "" and "-".
func openEvents(path string, stdin io.Reader) (io.Reader, string, func(), error) {
	if path == "" || path == "-" {
		return stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", nil, err
	}
	return f, path, func() { _ = f.Close() }, nil
}

// dropMessage is a slog handler that discards records with one message.
type dropMessage struct {
	slog.Handler
	message string
}

func (d dropMessage) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == d.message {
		return nil
	}
	return d.Handler.Handle(ctx, r)
}

func (d dropMessage) WithAttrs(attrs []slog.Attr) slog.Handler {
	return dropMessage{Handler: d.Handler.WithAttrs(attrs), message: d.message}
}

func (d dropMessage) WithGroup(name string) slog.Handler {
	return dropMessage{Handler: d.Handler.WithGroup(name), message: d.message}
}
