package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/tokenwire/tokenwire/examples"
	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
	"github.com/tokenwire/tokenwire/runtime/signer"
)

// adHocIssuer is the issuer of SETs signed with an ephemeral key when
// neither config nor --issuer names one. The .invalid top-level domain
// (RFC 2606) makes clear that it is no real issuer.
const adHocIssuer = "https://tokenwire.invalid"

// defaultConfig is the embedded default of "tokenwire run" with no config:
// the audit example listener signing a SET per event, printed to stdout.
func defaultConfig(listen string) *config.Config {
	cfg := &config.Config{
		Issuer: "http://" + listen,
		Intake: config.Intake{Listen: listen},
		Sinks:  []config.Sink{{Name: "stdout", Type: "stdout"}},
		Listeners: []config.Listener{{
			Name:        "audit",
			Module:      "(embedded) examples/audit/audit.wasm",
			ModuleBytes: examples.AuditModule,
			Sign:        true,
			Sinks:       []string{"stdout"},
			ConfigJSON:  []byte(`{"sink":"stdout"}`),
		}},
	}
	return cfg
}

// loadConfig reads the config file, or returns an empty config when path is
// empty.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		cfg := &config.Config{}
		return cfg, cfg.Normalize()
	}
	return config.Load(path)
}

// keyPolicy is the rule newSigner follows when a listener may sign and no
// key file is configured.
type keyPolicy struct {
	// ephemeral allows a fresh key that is lost on exit; otherwise the
	// missing key is an error.
	ephemeral bool
	// hint is the instruction for giving a key, in the command's own terms.
	hint string
}

var (
	// requireKey is for a config an operator wrote: a forgotten key_file
	// must not quietly become a key that dies with the process.
	requireKey = keyPolicy{hint: "set signing.key_file"}
	// ephemeralForReplay is for replay, a test tool.
	ephemeralForReplay = keyPolicy{ephemeral: true, hint: "pass --key or set signing.key_file"}
	// ephemeralForDefault is for the embedded default of "run".
	ephemeralForDefault = keyPolicy{ephemeral: true, hint: "run with --config and set signing.key_file"}
)

// newSigner returns the signer for cfg, loaded from the key file when one
// is set. Without a key file it returns nil unless a listener is granted
// sign; then it makes an ephemeral key if policy allows it, else fails.
func newSigner(cfg *config.Config, logger *slog.Logger, policy keyPolicy) (*signer.Signer, error) {
	opts := signer.Options{
		Issuer:    cfg.Issuer,
		KeyID:     cfg.Signing.KeyID,
		Algorithm: cfg.Signing.Algorithm,
		Profile:   signer.Profile(cfg.Signing.Profile),
	}
	if cfg.Signing.KeyFile != "" {
		s, err := signer.LoadFile(cfg.Signing.KeyFile, opts)
		if err != nil {
			return nil, fmt.Errorf("signing.key_file: %w", err)
		}
		return s, nil
	}
	for _, l := range cfg.Listeners {
		if !l.Sign {
			continue
		}
		if !policy.ephemeral {
			return nil, fmt.Errorf("listener %q is granted sign but no signing key is configured: %s to the issuer's key (a JWK set, a JWK or a PEM file)", l.Name, policy.hint)
		}
		s, err := signer.Ephemeral(opts)
		if err != nil {
			return nil, fmt.Errorf("generate ephemeral signing key: %w", err)
		}
		logger.Warn("no signing key configured: signing with an ephemeral RSA key that is lost on exit; "+policy.hint+" for SETs receivers can verify later",
			"kid", s.KeyID(), "issuer", cfg.Issuer)
		return s, nil
	}
	return nil, nil
}

// startRuntime loads the signer and every listener of cfg, with stdout
// sinks writing to stdout and extra options appended, and returns the
// runtime with the event decoding options for cfg.
func startRuntime(ctx context.Context, cfg *config.Config, policy keyPolicy, logger *slog.Logger, stdout io.Writer, extra ...twruntime.Option) (*twruntime.Runtime, intake.Options, error) {
	intakeOpts, err := intakeOptions(cfg)
	if err != nil {
		return nil, intakeOpts, err
	}
	opts := []twruntime.Option{twruntime.WithLogger(logger), twruntime.WithStdout(stdout)}
	// The runtime loads a configured key file itself, so that a reload
	// can replace the key; only an ephemeral key is given to it.
	if cfg.Signing.KeyFile == "" {
		s, err := newSigner(cfg, logger, policy)
		if err != nil {
			return nil, intakeOpts, err
		}
		if s != nil {
			opts = append(opts, twruntime.WithSigner(s))
		}
	}
	rt, err := twruntime.New(ctx, cfg, append(opts, extra...)...)
	return rt, intakeOpts, err
}

// intakeOptions returns the event decoding options for cfg.
func intakeOptions(cfg *config.Config) (intake.Options, error) {
	opts := intake.Options{
		MaxEventBytes: int(cfg.Intake.MaxEventBytes),
		DefaultIssuer: cfg.EventIssuer(),
	}
	if cfg.Intake.TokenKeysFile != "" {
		set, err := jwk.ReadFile(cfg.Intake.TokenKeysFile)
		if err != nil {
			return opts, fmt.Errorf("intake.token_keys_file %s: %w", cfg.Intake.TokenKeysFile, err)
		}
		opts.TokenKeys = set
	}
	return opts, nil
}

// listenerName derives a listener name from a module path: "audit.wasm"
// becomes "audit".
func listenerName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// ensureStdoutSink adds the built-in stdout sink unless config defines one
// of that name.
func ensureStdoutSink(cfg *config.Config) {
	for _, s := range cfg.Sinks {
		if s.Name == "stdout" {
			return
		}
	}
	cfg.Sinks = append(cfg.Sinks, config.Sink{Name: "stdout", Type: "stdout"})
}

// closeWith closes c, logging a failure.
func closeWith(ctx context.Context, logger *slog.Logger, what string, c interface{ Close(context.Context) error }) {
	if err := c.Close(ctx); err != nil {
		logger.Error("close failed", "what", what, "error", err)
	}
}
