package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/signer"
	"github.com/tokenwire/tokenwire/runtime/sink"
)

// cmdCheck validates a config and its modules and prints what each
// listener exports, imports and is limited to. Sinks are not opened.
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", "[--config FILE] [--against URL [--token-file FILE]]", stderr)
	configPath := fs.String("config", "tokenwire.yaml", "config `file` (YAML) to check")
	daemon := addDaemonFlags(fs, "against")
	logLevel := fs.String("log-level", "warn", "log `level`: debug, info, warn or error")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return parseStatus(err)
	}
	if len(positional) > 0 {
		fmt.Fprintf(stderr, "tokenwire check: unexpected argument %q\n", positional[0])
		return exitUsage
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire check: %v\n", err)
		return exitUsage
	}
	cfg, err := loadConfig(*configPath)
	if err != nil && errors.Is(err, os.ErrNotExist) && !flagSet(fs, "config") {
		fmt.Fprintf(stderr, "tokenwire check: no %s in the current directory: pass --config FILE\n", *configPath)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire check: %v\n", err)
		return exitUsage
	}
	// The intake settings "run" reads before it serves.
	if err := checkIntake(cfg); err != nil {
		fmt.Fprintf(stderr, "tokenwire check: %v\n", err)
		return exitUsage
	}
	quiet, _ := newLogger(io.Discard, "error")
	s, err := newSigner(cfg, quiet, requireKey)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire check: %v\n", err)
		return exitUsage
	}
	opts := []twruntime.Option{twruntime.WithLogger(logger)}
	if s != nil {
		opts = append(opts, twruntime.WithSigner(s))
	}
	for _, sc := range cfg.Sinks {
		opts = append(opts, twruntime.WithSink(sc.Name, sink.NewLines(io.Discard)))
	}
	rt, err := twruntime.New(ctx, cfg, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire check: %v\n", err)
		return exitUsage
	}
	defer closeWith(context.Background(), logger, "runtime", rt)

	fmt.Fprintf(stdout, "config %s: ok\n", *configPath)
	if s != nil {
		fmt.Fprintf(stdout, "signing      %s, %s, kid %s\n", cfg.Signing.KeyFile, s.Algorithm(), s.KeyID())
	}
	fmt.Fprintf(stdout, "intake       listen %s, max_event_bytes %s, max_request_bytes %s, queue_size %d\n",
		cfg.Intake.Listen, cfg.Intake.MaxEventBytes, cfg.Intake.MaxRequestBytes, cfg.Intake.QueueSize)
	for _, sc := range cfg.Sinks {
		switch sc.Type {
		case "file":
			fmt.Fprintf(stdout, "sink         %s: file %s, fsync %s\n", sc.Name, sc.Path, sc.Fsync)
		default:
			fmt.Fprintf(stdout, "sink         %s: %s\n", sc.Name, sc.Type)
		}
	}
	for _, l := range rt.Listeners() {
		b := l.Budgets
		fmt.Fprintf(stdout, "\nlistener %s\n", l.Name)
		fmt.Fprintf(stdout, "  module       %s\n", l.Module)
		fmt.Fprintf(stdout, "  sha256       %s\n", l.ModuleInfo.SHA256)
		fmt.Fprintf(stdout, "  abi          v%d\n", l.ModuleInfo.ABIVersion)
		fmt.Fprintf(stdout, "  exports      %s\n", strings.Join(l.ModuleInfo.Exports, ", "))
		fmt.Fprintf(stdout, "  imports      %s\n", orNone(l.ModuleInfo.Imports))
		fmt.Fprintf(stdout, "  events       %s\n", strings.Join(l.Events, ", "))
		fmt.Fprintf(stdout, "  sign         %t\n", l.Sign)
		fmt.Fprintf(stdout, "  sinks        %s\n", orNone(l.Sinks))
		fmt.Fprintf(stdout, "  deadline     %s (start %s)\n", l.Deadline, l.StartDeadline)
		fmt.Fprintf(stdout, "  memory_limit %s\n", config.ByteSize(l.MemoryLimit))
		fmt.Fprintf(stdout, "  pool_size    %d\n", l.PoolSize)
		fmt.Fprintf(stdout, "  budgets      signs %d, emits %d, log_lines %d, log_bytes %s, claims_bytes %s, emit_bytes %s\n",
			b.Signs, b.Emits, b.LogLines, b.LogBytes, b.ClaimsBytes, b.EmitBytes)
	}
	if *daemon.addr != "" {
		return printPlan(ctx, daemon, cfg, s, stdout, stderr)
	}
	return exitOK
}

// printPlan prints what reloading the daemon with cfg would change:
// each listener's fate and whether the signing key changes. sign is the
// candidate's signer, nil without a key file.
func printPlan(ctx context.Context, daemon daemonFlags, cfg *config.Config, sign *signer.Signer, stdout, stderr io.Writer) int {
	client, err := daemon.client(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire check: %v\n", err)
		return exitUsage
	}
	st, err := client.status(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire check: %v\n", err)
		return exitFailure
	}
	plan, err := twruntime.PlanReload(st.Listeners, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire check: %v\n", err)
		return exitUsage
	}
	var jwks struct {
		Keys []struct {
			KeyID string `json:"kid"`
		} `json:"keys"`
	}
	if err := client.get(ctx, "/.well-known/jwks.json", &jwks); err != nil {
		fmt.Fprintf(stderr, "tokenwire check: %v\n", err)
		return exitFailure
	}
	running := "(none)"
	if len(jwks.Keys) > 0 {
		running = jwks.Keys[0].KeyID
	}
	candidate := "(none)"
	if sign != nil {
		candidate = sign.KeyID()
	}
	if running == candidate {
		plan = append(plan, fmt.Sprintf("signing key kept: kid %s", running))
	} else {
		plan = append(plan, fmt.Sprintf("signing key replaced: kid %s, then %s", running, candidate))
	}
	fmt.Fprintf(stdout, "\na reload of the daemon at %s (generation %d) would:\n", client.base, st.Generation)
	for _, line := range plan {
		fmt.Fprintf(stdout, "  %s\n", line)
	}
	return exitOK
}

func orNone(items []string) string {
	if len(items) == 0 {
		return "(none)"
	}
	return strings.Join(items, ", ")
}

// checkIntake reads the files and parses the address that "run" needs for
// intake, so check fails where run would.
func checkIntake(cfg *config.Config) error {
	if _, _, err := net.SplitHostPort(cfg.Intake.Listen); err != nil {
		return fmt.Errorf("intake.listen %q: %v: use host:port, such as 127.0.0.1:8080", cfg.Intake.Listen, err)
	}
	if _, err := intakeOptions(cfg); err != nil {
		return err
	}
	if cfg.Intake.AuthTokenFile != "" {
		if _, err := readToken("intake.auth_token_file", cfg.Intake.AuthTokenFile); err != nil {
			return err
		}
	}
	if cfg.Admin.TokenFile != "" {
		if _, err := readToken("admin.token_file", cfg.Admin.TokenFile); err != nil {
			return err
		}
	}
	return nil
}
