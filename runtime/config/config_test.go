package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const fullConfig = `issuer: https://issuer.example.com
signing:
  key_file: keys/issuer.jwks.json
  algorithm: PS256
  profile: ssf
intake:
  listen: 127.0.0.1:9090
  max_event_bytes: 64KiB
  queue_size: 10
sinks:
  - name: audit-file
    type: file
    path: out/audit.ndjson
    fsync: always
  - name: stdout
    type: stdout
listeners:
  - name: audit
    module: modules/audit.wasm
    events: [id_token.issued]
    config:
      sink: audit-file
      audience: [a, b]
      big: 12345678901234567890
    sign: true
    sinks: [audit-file]
    deadline: 250ms
    memory_limit: 32MiB
    pool_size: 2
    budgets:
      signs: 1
`

func TestParseFull(t *testing.T) {
	cfg, err := Parse([]byte(fullConfig), "/etc/tokenwire/tokenwire.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Signing.KeyFile, "/etc/tokenwire/keys/issuer.jwks.json"; got != want {
		t.Errorf("key_file = %q, want %q", got, want)
	}
	if got := cfg.Intake.MaxEventBytes; got != 64<<10 {
		t.Errorf("max_event_bytes = %d, want %d", got, 64<<10)
	}
	if got := cfg.EventIssuer(); got != "https://issuer.example.com" {
		t.Errorf("default_issuer = %q, want the issuer", got)
	}
	if got := cfg.Sinks[0].Path; got != "/etc/tokenwire/out/audit.ndjson" {
		t.Errorf("sink path = %q", got)
	}
	if got := cfg.Sinks[0].Line; got != 11 {
		t.Errorf("sink line = %d, want 11", got)
	}
	l := cfg.Listeners[0]
	if got := l.Module; got != "/etc/tokenwire/modules/audit.wasm" {
		t.Errorf("module = %q", got)
	}
	if got := l.Line; got != 18 {
		t.Errorf("listener line = %d, want 18", got)
	}
	if got, want := string(l.ConfigJSON), `{"audience":["a","b"],"big":12345678901234567890,"sink":"audit-file"}`; got != want {
		t.Errorf("config JSON = %s, want %s", got, want)
	}
	if got := l.Deadline.Std(); got != 250*time.Millisecond {
		t.Errorf("deadline = %s", got)
	}
	if got := l.MemoryLimit; got != 32<<20 {
		t.Errorf("memory_limit = %d", got)
	}
	if l.Budgets.Signs != 1 || l.Budgets.Emits != DefaultMaxEmits {
		t.Errorf("budgets = %+v, want signs 1 and default emits", l.Budgets)
	}
}

func TestParseDefaults(t *testing.T) {
	cfg, err := Parse([]byte("listeners:\n  - name: a\n    module: a.wasm\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Listeners[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.Intake.Listen, DefaultListen},
		{"events", strings.Join(l.Events, ","), "id_token.issued,access_token.issued"},
		{"config", string(l.ConfigJSON), "{}"},
		{"deadline", l.Deadline.Std(), DefaultDeadline},
		{"memory_limit", int64(l.MemoryLimit), int64(DefaultMemoryLimit)},
		{"pool_size", l.PoolSize, DefaultPoolSize},
		{"signs", l.Budgets.Signs, DefaultMaxSigns},
		{"log_lines", l.Budgets.LogLines, DefaultMaxLogLines},
		{"instructions", int(l.Budgets.Instructions), DefaultInstructions},
		{"start_instructions", int(l.Budgets.StartInstructions), DefaultStartInstructions},
		{"profile", cfg.Signing.Profile, "rfc8417"},
		{"previous_key_overlap", cfg.Signing.PreviousKeyOverlap.Std(), DefaultKeyOverlap},
		{"reload.watch", cfg.Reload.WatchEnabled(), true},
		{"reload.debounce", cfg.Reload.Debounce.Std(), DefaultReloadDebounce},
		{"reload.drain_timeout", cfg.Reload.DrainTimeout.Std(), DefaultReloadDrain},
		{"module_sha256", l.ModuleSHA256, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"unknown key", "issuer: https://a.example\nlisteners:\n  - name: a\n    modul: a.wasm\n", []string{":4:", "modul"}},
		{"unknown top key", "isuer: https://a.example\n", []string{":1:", "isuer"}},
		{"empty", "", []string{"empty"}},
		{"bad size", "listeners:\n  - name: a\n    module: a.wasm\n    memory_limit: lots\n", []string{":4:", "lots"}},
		{"bad duration", "listeners:\n  - name: a\n    module: a.wasm\n    deadline: soon\n", []string{":4:", "soon"}},
		{"unknown event type", "listeners:\n  - name: a\n    module: a.wasm\n    events: [id_token.isued]\n", []string{":2:", "id_token.isued"}},
		{"undefined sink", "listeners:\n  - name: a\n    module: a.wasm\n    sinks: [nowhere]\n", []string{":2:", `sink "nowhere" is not defined`}},
		{"duplicate listener", "listeners:\n  - name: a\n    module: a.wasm\n  - name: a\n    module: b.wasm\n", []string{":4:", "defined twice"}},
		{"no module", "listeners:\n  - name: a\n", []string{"has no module"}},
		{"sign without issuer", "listeners:\n  - name: a\n    module: a.wasm\n    sign: true\n", []string{"issuer is not set"}},
		{"bad sink type", "sinks:\n  - name: q\n    type: rabbitmq\n", []string{":2:", `type "rabbitmq" is unknown`}},
		{"network sink without outbox", "sinks:\n  - name: q\n    type: kafka\n    kafka: {brokers: [\"127.0.0.1:9092\"], topic: t}\n", []string{":2:", "needs the outbox", "outbox.path"}},
		{"kafka without topic", "outbox: {path: o.db}\nsinks:\n  - name: q\n    type: kafka\n    kafka: {brokers: [\"127.0.0.1:9092\"]}\n", []string{":3:", "kafka.topic"}},
		{"wrong section", "outbox: {path: o.db}\nsinks:\n  - name: q\n    type: nats\n    nats: {url: \"nats://127.0.0.1\", subject: s}\n    kafka: {topic: t}\n", []string{"takes no kafka section"}},
		{"bad http url", "outbox: {path: o.db}\nsinks:\n  - name: q\n    type: http\n    http: {url: \"ftp://x\"}\n", []string{"not an http or https URL"}},
		{"kafka intake without journal", "kafka_intake: {brokers: [\"127.0.0.1:9092\"], topic: events}\n", []string{"kafka_intake", "outbox.path"}},
		{"kafka intake without topic", "outbox: {path: o.db}\nkafka_intake: {brokers: [\"127.0.0.1:9092\"]}\n", []string{"kafka_intake needs brokers and topic"}},
		{"rotate on stdout", "sinks:\n  - name: q\n    type: stdout\n    rotate: {max_bytes: 1MiB}\n", []string{"rotate applies to type file only"}},
		{"file sink without path", "sinks:\n  - name: f\n    type: file\n", []string{"needs a path"}},
		{"bad fsync", "sinks:\n  - name: f\n    type: file\n    path: x\n    fsync: sometimes\n", []string{"sometimes"}},
		{"bad issuer", "issuer: not a url\n", []string{"not an absolute URL"}},
		{"bad algorithm", "signing:\n  algorithm: HS256\n", []string{"HS256", "not supported"}},
		{"memory too small", "listeners:\n  - name: a\n    module: a.wasm\n    memory_limit: 1KiB\n", []string{"out of range"}},
		{"pool too large", "listeners:\n  - name: a\n    module: a.wasm\n    pool_size: 1000000000000\n", []string{"pool_size", "out of range"}},
		{"budget too large", "listeners:\n  - name: a\n    module: a.wasm\n    budgets:\n      log_bytes: 1GiB\n", []string{"budgets.log_bytes", "maximum"}},
		{"instructions negative", "listeners:\n  - name: a\n    module: a.wasm\n    budgets:\n      instructions: -5\n", []string{"budgets.instructions -5", "out of range"}},
		{"start instructions too large", "listeners:\n  - name: a\n    module: a.wasm\n    budgets:\n      start_instructions: 1000000000000000000\n", []string{"budgets.start_instructions", "out of range"}},
		{"queue too large", "intake:\n  queue_size: 100000000\n", []string{"queue_size", "out of range"}},
		{"bad module pin", "listeners:\n  - name: a\n    module: a.wasm\n    module_sha256: abc\n", []string{":2:", `module_sha256 "abc" is not a SHA-256 digest`}},
		{"negative key overlap", "signing:\n  previous_key_overlap: -1h\n", []string{":2:", `"-1h"`, "positive duration"}},
		{"negative debounce", "reload:\n  debounce: -1s\n", []string{":2:", `"-1s"`, "positive duration"}},
		{"unknown reload key", "reload:\n  wach: false\n", []string{":2:", "wach"}},
		{"config not a mapping", "listeners:\n  - name: a\n    module: a.wasm\n    config: [1, 2]\n", []string{"must be a mapping"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "tokenwire.yaml")
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			for _, want := range c.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if !strings.Contains(err.Error(), "tokenwire.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestNormalizeRejectsNegativeReloadDurations(t *testing.T) {
	cfg := &Config{Signing: Signing{PreviousKeyOverlap: Duration(-time.Hour)}, Reload: Reload{DrainTimeout: Duration(-time.Second)}}
	err := cfg.Normalize()
	if err == nil {
		t.Fatal("Normalize accepted negative durations")
	}
	for _, want := range []string{"signing.previous_key_overlap -1h0m0s is negative", "reload.debounce and reload.drain_timeout must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	_, err := Load(path)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load error = %v, want os.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}

func TestByteSizeString(t *testing.T) {
	cases := map[ByteSize]string{0: "0B", 512: "512B", 1 << 10: "1KiB", 64 << 20: "64MiB", 3 << 30: "3GiB", 1500: "1500B"}
	for size, want := range cases {
		if got := size.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(size), got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte("listeners:\n  - name: a\n    module: a.wasm\n"))
	f.Add([]byte("sinks: [{name: s, type: stdout}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		for _, l := range cfg.Listeners {
			if l.PoolSize <= 0 || l.Deadline <= 0 || l.MemoryLimit <= 0 {
				t.Fatalf("listener %q has unset limits after Parse: %+v", l.Name, l)
			}
		}
	})
}
