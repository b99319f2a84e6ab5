package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/tokenwire/tokenwire/abi"
)

// Exit statuses.
const (
	exitOK      = 0 // success
	exitFailure = 1 // an event was invalid or a listener failed on one
	exitUsage   = 2 // bad usage, config or module
)

const usage = `tokenwire dispatches OAuth 2.0 / OpenID Connect token-issue events to
sandboxed WebAssembly listeners.

Usage:
  tokenwire run     [--config FILE] [--listen ADDR]   run the daemon
  tokenwire replay  [--config FILE] [--module FILE.wasm ...] [--key FILE]
                    [--issuer URL] [EVENTS.ndjson | -]  dispatch a file of events
  tokenwire check   [--config FILE] [--against URL]   validate config and modules, and
                                                      say what a reload would change
  tokenwire status  [--config FILE] [--addr URL]      show a running daemon's listeners
  tokenwire dlq     list|replay|drop --config FILE    inspect and act on dead letters
  tokenwire fuzz    MODULE.wasm [--config FILE] [--duration D | --runs N]
                    [--corpus DIR] [--seed N] [--jobs N]  fuzz a listener
  tokenwire version                                   print the version

Flags may come before or after a command's arguments; "--" ends the flags.
Run "tokenwire COMMAND --help" for the flags of a command.
`

// run executes one tokenwire command and returns its exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "replay":
		return cmdReplay(ctx, rest, stdin, stdout, stderr)
	case "check":
		return cmdCheck(ctx, rest, stdout, stderr)
	case "status":
		return cmdStatus(ctx, rest, stdout, stderr)
	case "dlq":
		return cmdDLQ(ctx, rest, stdout, stderr)
	case "fuzz":
		return cmdFuzz(ctx, rest, stdout, stderr)
	case "version", "--version":
		if len(rest) == 1 && (rest[0] == "-h" || rest[0] == "--help") {
			fmt.Fprintln(stdout, "Usage: tokenwire version\n\nPrints the version the binary was built from and the ABI version it serves.")
			return exitOK
		}
		if len(rest) > 0 {
			fmt.Fprintf(stderr, "tokenwire version: unexpected argument %q\n", rest[0])
			return exitUsage
		}
		fmt.Fprintf(stdout, "tokenwire %s (ABI v%d)\n", version(), abi.Version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "tokenwire: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// version returns the module version the binary was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var revision, modified string
	for _, setting := range info.Settings {
		switch setting.Key {
		case "vcs.revision":
			revision = setting.Value
		case "vcs.modified":
			modified = setting.Value
		}
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if revision != "" {
		v += " " + revision
		if modified == "true" {
			v += "+dirty"
		}
	}
	return v
}

// parseStatus returns the exit status for a flag parse error: 0 for
// --help, which printed the usage as asked, else exitUsage.
func parseStatus(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// parseArgs parses args with fs and returns the positional arguments.
// Unlike fs.Parse, it accepts flags after positional arguments too, so
// "replay events.ndjson --module x.wasm" works. Everything after "--" is
// positional, and so is a lone "-", which names stdin.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			positional = append(positional, arg)
			continue
		}
		flags = append(flags, arg)
		name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		if strings.Contains(name, "=") {
			continue
		}
		// A flag that takes a value takes the next argument as it, as
		// fs.Parse would, even when that argument starts with "-".
		if f := fs.Lookup(name); f != nil && !isBoolFlag(f) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	return positional, nil
}

// flagSet reports whether the command line set the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// isBoolFlag reports whether f is set by its name alone, as --json is.
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// newFlagSet returns a flag set that writes its usage to stderr and does not
// exit on error.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tokenwire %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// newLogger returns a text logger on stderr at the named level.
func newLogger(stderr io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l})), nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
