// Package config reads tokenwire's YAML configuration.
//
// Decoding is strict: an unknown key is an error that names the key and its
// line. Load fills every default listed on the fields below, resolves
// relative paths against the config file's directory and validates the
// whole document, so an error comes back before anything starts.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults for settings left out of the config file.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultMaxEventBytes   = 256 << 10
	DefaultMaxRequestBytes = 16 << 20
	DefaultQueueSize       = 1024
	DefaultDeadline        = 500 * time.Millisecond
	DefaultStartDeadline   = 10 * time.Second
	DefaultMemoryLimit     = 64 << 20
	DefaultPoolSize        = 4
	DefaultMaxSigns        = 8
	DefaultMaxEmits        = 32
	DefaultMaxLogLines     = 64
	DefaultMaxLogBytes     = 4 << 10
	DefaultMaxClaimsBytes  = 64 << 10
	DefaultMaxEmitBytes    = 1 << 20
	DefaultFsyncInterval   = time.Second
	DefaultDrainTimeout    = 10 * time.Second
	DefaultReloadDebounce  = 250 * time.Millisecond
	DefaultReloadDrain     = 30 * time.Second
	DefaultKeyOverlap      = 24 * time.Hour
)

// Default instruction budgets. On the machine in docs/benchmarks.md a
// tight guest loop runs about 2 billion instructions a second. The Go
// audit example needs more than a billion on a 175 KB event, well within
// the default deadline, so the per-call default leaves room for events up
// to the intake limit and the deadline is usually reached first.
const (
	DefaultInstructions      = 5_000_000_000
	DefaultStartInstructions = 20_000_000_000
	// MaxInstructions bounds both budgets, about a day of guest time.
	MaxInstructions = 1 << 47
)

// Upper bounds of settings whose large values would exhaust memory at start.
const (
	MaxPoolSize    = 1024
	MaxWorkers     = 1024
	MaxQueueSize   = 1 << 20
	MaxBudgetCount = 100_000  // signs, emits and log_lines per call
	MaxBudgetBytes = 64 << 20 // log_bytes, claims_bytes and emit_bytes
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid config")

// Config is a whole tokenwire configuration.
type Config struct {
	// Issuer is the issuer URL that signs SETs; it becomes their "iss".
	// Required when any listener is granted signing.
	Issuer string `yaml:"issuer"`
	// Signing selects the key and rules for SETs.
	Signing Signing `yaml:"signing"`
	// Intake configures the HTTP event endpoint and event limits.
	Intake Intake `yaml:"intake"`
	// Sinks are the named outputs listeners may emit to.
	Sinks []Sink `yaml:"sinks"`
	// Listeners are the WebAssembly modules events are dispatched to.
	Listeners []Listener `yaml:"listeners"`
	// Reload configures how a running daemon picks up config changes.
	Reload Reload `yaml:"reload"`
	// Admin configures the authenticated admin endpoints.
	Admin Admin `yaml:"admin"`
	// CacheDir holds compiled modules, so a restart or a reload of a known
	// module skips compilation. Default: "tokenwire" in the user's cache
	// directory ($XDG_CACHE_HOME or ~/.cache on Linux) under "tokenwire
	// run"; "off" keeps compiled modules in memory only.
	CacheDir string `yaml:"cache_dir"`
	// Outbox is the durable store of the network sinks and the intake
	// journal (see delivery.go).
	Outbox Outbox `yaml:"outbox"`
	// KafkaIntake consumes events from a Kafka topic (see delivery.go).
	KafkaIntake KafkaIntake `yaml:"kafka_intake"`

	// Path is the file the config was read from, empty when built in code.
	Path string `yaml:"-"`
}

// Signing selects the issuer key used by the sign host function.
type Signing struct {
	// KeyFile is a JWK set, a single JWK or a PEM private key. Empty means
	// no key: listeners granted signing then fail to load, except under
	// "tokenwire run" with no config, which makes an ephemeral key.
	KeyFile string `yaml:"key_file"`
	// KeyID picks one key from a JWK set that holds several, and sets the
	// "kid" of a PEM key. Default: the JWK's own kid, else the RFC 7638
	// thumbprint.
	KeyID string `yaml:"key_id"`
	// Algorithm overrides the default for the key type: RS256 for RSA
	// (PS256 may be chosen), ES256 for P-256, EdDSA for Ed25519.
	Algorithm string `yaml:"algorithm"`
	// Profile is "rfc8417" (default) or "ssf"; "ssf" also rejects a
	// top-level "sub" claim, as the Shared Signals Framework puts subjects
	// in "sub_id".
	Profile string `yaml:"profile"`
	// PreviousKeyOverlap is the time the JWK set keeps serving the previous
	// public key after a reload replaces the signing key, so receivers can
	// still verify SETs signed just before the change. Default 24h.
	PreviousKeyOverlap Duration `yaml:"previous_key_overlap"`
}

// Reload configures config reloads of "tokenwire run". A reload builds
// the new listeners aside and swaps them in only when all of them start;
// on any error the running listeners keep serving.
type Reload struct {
	// Watch reloads when the config file or a listener's module file
	// changes on disk, including a replacement by rename. Default true.
	Watch *bool `yaml:"watch"`
	// Debounce waits this long after the last change before reloading,
	// so an editor's several writes make one reload. Default 250ms.
	Debounce Duration `yaml:"debounce"`
	// DrainTimeout bounds how long a replaced listener may take to finish
	// its in-flight events and tw_shutdown before it is closed. Default 30s.
	DrainTimeout Duration `yaml:"drain_timeout"`
}

// WatchEnabled reports whether file watching is on.
func (r Reload) WatchEnabled() bool { return r.Watch == nil || *r.Watch }

// Admin configures the admin endpoints of "tokenwire run".
type Admin struct {
	// TokenFile holds a secret that admin requests must present as
	// "Authorization: Bearer <secret>". Setting it enables POST
	// /v1/admin/reload and requires the secret on GET /v1/status. Empty:
	// the reload endpoint is off and /v1/status is open to anyone who can
	// reach Intake.Listen.
	TokenFile string `yaml:"token_file"`
}

// Intake configures how events enter tokenwire.
type Intake struct {
	// Listen is the HTTP address of "tokenwire run". Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// MaxEventBytes bounds one event. Default 256KiB.
	MaxEventBytes ByteSize `yaml:"max_event_bytes"`
	// MaxRequestBytes bounds one POST /v1/events body. Default 16MiB.
	MaxRequestBytes ByteSize `yaml:"max_request_bytes"`
	// QueueSize is the number of accepted events that may wait for
	// dispatch; past it intake responds 503. Default 1024.
	QueueSize int `yaml:"queue_size"`
	// Workers is how many events are dispatched at once. Default: the
	// number of CPUs.
	Workers int `yaml:"workers"`
	// DefaultIssuer fills "issuer" when neither the event nor its claims
	// carry one. Default: Issuer (see Config.EventIssuer).
	DefaultIssuer string `yaml:"default_issuer"`
	// TokenKeysFile is a JWK set used to verify events posted in the
	// "token" form. Empty: token signatures are not checked.
	TokenKeysFile string `yaml:"token_keys_file"`
	// AuthTokenFile holds a secret that senders must present as
	// "Authorization: Bearer <secret>" on POST /v1/events. Empty: the
	// endpoint takes events from anyone who can reach it, so keep Listen
	// on loopback or behind an authenticating proxy.
	AuthTokenFile string `yaml:"auth_token_file"`
	// DrainTimeout bounds how long a stop waits for in-flight events.
	// Default 10s.
	DrainTimeout Duration `yaml:"drain_timeout"`
}

// Sink is one named output.
type Sink struct {
	// Name is the name listeners emit to. Required, unique.
	Name string `yaml:"name"`
	// Type is "stdout", "file", or a network type delivered through the
	// outbox: "http", "set-push", "set-poll", "kafka", "nats" or "sqs".
	Type string `yaml:"type"`
	// Path is the file a "file" sink appends to.
	Path string `yaml:"path"`
	// Fsync is the "file" sink's durability policy: "always" (fsync after
	// every payload), "interval" (default: every FsyncInterval) or "never"
	// (leave it to the operating system).
	Fsync string `yaml:"fsync"`
	// FsyncInterval applies to Fsync "interval". Default 1s.
	FsyncInterval Duration `yaml:"fsync_interval"`
	// Rotate rotates a "file" sink by size and age.
	Rotate Rotate `yaml:"rotate"`

	// The section of the network type (see delivery.go).
	HTTP    *HTTPSink    `yaml:"http"`
	Kafka   *KafkaSink   `yaml:"kafka"`
	NATS    *NATSSink    `yaml:"nats"`
	SQS     *SQSSink     `yaml:"sqs"`
	SETPoll *SETPollSink `yaml:"set_poll"`
	// Delivery is the retry policy and queue bounds of a network sink.
	Delivery Delivery `yaml:"delivery"`
	// Redact drops or hashes members of JSON payloads before they are
	// written or queued.
	Redact *Redact `yaml:"redact"`

	// Line is the line in the config file, for error messages.
	Line int `yaml:"-"`
}

// Listener is one WebAssembly module and the events it receives.
type Listener struct {
	// Name identifies the listener in logs and status. Required, unique.
	Name string `yaml:"name"`
	// Module is the path of the .wasm file. Required.
	Module string `yaml:"module"`
	// ModuleSHA256 pins the module: when set, a module file whose SHA-256
	// (lowercase hex) differs fails to load, and a reload keeps the
	// running listeners. Default: not pinned.
	ModuleSHA256 string `yaml:"module_sha256"`
	// Events lists the event types the listener receives. Default: all.
	Events []string `yaml:"events"`
	// Config is passed to the module as JSON through config_read. Default {}.
	Config yaml.Node `yaml:"config"`
	// Sign grants the sign host function. Default false.
	Sign bool `yaml:"sign"`
	// Sinks lists the sinks the listener may emit to. Default none.
	Sinks []string `yaml:"sinks"`
	// Deadline bounds each call into the module: tw_on_event and
	// tw_shutdown. Default 500ms.
	Deadline Duration `yaml:"deadline"`
	// StartDeadline bounds starting one instance: instantiation,
	// _initialize and tw_init together. Default 10s, as a Go guest's
	// runtime start takes milliseconds and far longer on a loaded machine.
	StartDeadline Duration `yaml:"start_deadline"`
	// MemoryLimit caps the module's linear memory. Default 64MiB; it is
	// rounded down to 64 KiB WebAssembly pages.
	MemoryLimit ByteSize `yaml:"memory_limit"`
	// PoolSize is the maximum number of instances serving events at once.
	// Default 4.
	PoolSize int `yaml:"pool_size"`
	// Budgets bound what one event may ask of the host.
	Budgets Budgets `yaml:"budgets"`

	// ConfigJSON is Config converted to JSON by Load.
	ConfigJSON []byte `yaml:"-"`
	// ModuleBytes, when set in code, is used instead of reading Module.
	ModuleBytes []byte `yaml:"-"`
	// Line is the line in the config file, for error messages.
	Line int `yaml:"-"`
}

// Budgets bound the host calls a listener may make while handling one event
// (or during tw_init). A call past a count budget gets LIMIT_EXCEEDED; an
// argument past a size budget gets TOO_LARGE.
type Budgets struct {
	// Signs is the number of sign calls. Default 8.
	Signs int `yaml:"signs"`
	// Emits is the number of emit calls. Default 32.
	Emits int `yaml:"emits"`
	// LogLines counts log calls and lines the guest writes to stdout or
	// stderr. Default 64.
	LogLines int `yaml:"log_lines"`
	// LogBytes bounds one log line; longer lines are cut. Default 4KiB.
	LogBytes ByteSize `yaml:"log_bytes"`
	// ClaimsBytes bounds the claims passed to sign. Default 64KiB.
	ClaimsBytes ByteSize `yaml:"claims_bytes"`
	// EmitBytes bounds one emitted payload. Default 1MiB.
	EmitBytes ByteSize `yaml:"emit_bytes"`
	// Instructions bounds the WebAssembly instructions one call of
	// tw_on_event or tw_shutdown may run. The host counts them with code
	// it adds to the module at load time, and a call past the budget traps
	// and fails as a timeout, regardless of the wall clock. A call can
	// trap up to 65,536 instructions early per function with loops it has
	// active, which holds up to that much in reserve. Default
	// 5,000,000,000, about 2.5 s of a tight loop on the machine in
	// docs/benchmarks.md, so the 500 ms default deadline usually stops a
	// call first. The deadline always applies as well.
	Instructions int64 `yaml:"instructions"`
	// StartInstructions bounds each step of starting an instance: the
	// module's start function, _initialize and tw_init. Default
	// 20,000,000,000.
	StartInstructions int64 `yaml:"start_instructions"`
}

// EventIssuer returns the issuer intake gives an event that names none:
// intake.default_issuer, else Issuer.
func (c *Config) EventIssuer() string {
	if c.Intake.DefaultIssuer != "" {
		return c.Intake.DefaultIssuer
	}
	return c.Issuer
}

// Load reads, decodes, defaults and validates the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse decodes YAML config data. Path names the source in errors and is
// the base for relative paths; it may be empty.
func Parse(data []byte, path string) (*Config, error) {
	name := path
	if name == "" {
		name = "config"
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w: the file is empty", name, ErrInvalid)
		}
		return nil, yamlError(name, err)
	}
	cfg.Path = path
	if err := recordLines(data, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", name, ErrInvalid, err)
	}
	if path != "" {
		cfg.resolvePaths(filepath.Dir(path))
	}
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// resolvePaths makes every relative file path relative to dir.
func (c *Config) resolvePaths(dir string) {
	resolve := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	resolve(&c.Signing.KeyFile)
	resolve(&c.Intake.TokenKeysFile)
	resolve(&c.Intake.AuthTokenFile)
	resolve(&c.Admin.TokenFile)
	if c.CacheDir != "off" {
		resolve(&c.CacheDir)
	}
	for i := range c.Sinks {
		resolve(&c.Sinks[i].Path)
	}
	for i := range c.Listeners {
		resolve(&c.Listeners[i].Module)
	}
	c.resolveDeliveryPaths(resolve)
}

// nodeToJSON converts a YAML node to JSON, keeping integers exact.
func nodeToJSON(n *yaml.Node) ([]byte, error) {
	if n == nil || n.Kind == 0 {
		return []byte("{}"), nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	v, err := jsonCompatible(v)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(v)
}

// jsonCompatible turns YAML's map[string]any tree into one encoding/json
// accepts, rejecting keys that are not strings.
func jsonCompatible(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			c, err := jsonCompatible(e)
			if err != nil {
				return nil, err
			}
			t[k] = c
		}
		return t, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("map key %v is not a string", k)
			}
			c, err := jsonCompatible(e)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		for i, e := range t {
			c, err := jsonCompatible(e)
			if err != nil {
				return nil, err
			}
			t[i] = c
		}
		return t, nil
	default:
		return v, nil
	}
}
