package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tokenwire/tokenwire/abi"
)

// Normalize fills defaults and validates the config. Load and Parse call it;
// a caller that builds a Config in code calls it before use.
func (c *Config) Normalize() error {
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, c.errorAt(line, fmt.Sprintf(format, args...)))
	}

	if c.Issuer != "" {
		if u, err := url.Parse(c.Issuer); err != nil || !u.IsAbs() || u.Host == "" {
			fail(0, "issuer %q is not an absolute URL: use the issuer's URL, such as https://issuer.example.com", c.Issuer)
		}
	}
	switch c.Signing.Profile {
	case "":
		c.Signing.Profile = "rfc8417"
	case "rfc8417", "ssf":
	default:
		fail(0, "signing.profile %q is unknown: use rfc8417 or ssf", c.Signing.Profile)
	}
	switch c.Signing.Algorithm {
	case "", "RS256", "PS256", "ES256", "EdDSA":
	default:
		fail(0, "signing.algorithm %q is not supported: use RS256, PS256, ES256 or EdDSA, or leave it out to follow the key type", c.Signing.Algorithm)
	}

	c.normalizeIntake(fail)
	if c.Signing.PreviousKeyOverlap == 0 {
		c.Signing.PreviousKeyOverlap = Duration(DefaultKeyOverlap)
	}
	if c.Signing.PreviousKeyOverlap < 0 {
		fail(0, "signing.previous_key_overlap %s is negative: use a duration such as 24h", c.Signing.PreviousKeyOverlap)
	}
	c.normalizeReload(fail)
	c.normalizeOutbox(fail)

	sinkNames := map[string]bool{}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		if s.Name == "" {
			fail(s.Line, "sink %d has no name: every sink needs a unique name", i+1)
		} else if sinkNames[s.Name] {
			fail(s.Line, "sink %q is defined twice: sink names must be unique", s.Name)
		}
		sinkNames[s.Name] = true
		s.normalize(func(format string, args ...any) { fail(s.Line, format, args...) })
	}

	listenerNames := map[string]bool{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		report := func(format string, args ...any) { fail(l.Line, format, args...) }
		if l.Name == "" {
			report("listener %d has no name: every listener needs a unique name", i+1)
		} else if listenerNames[l.Name] {
			report("listener %q is defined twice: listener names must be unique", l.Name)
		}
		listenerNames[l.Name] = true
		l.normalize(report)
		for _, sink := range l.Sinks {
			if !sinkNames[sink] {
				report("listener %q: sink %q is not defined: add it under sinks or remove it from the listener", l.Name, sink)
			}
		}
		if l.Sign && c.Issuer == "" {
			report("listener %q is granted sign but issuer is not set: set issuer to the issuer URL", l.Name)
		}
	}
	return errors.Join(errs...)
}

func (c *Config) normalizeIntake(fail func(int, string, ...any)) {
	in := &c.Intake
	if in.Listen == "" {
		in.Listen = DefaultListen
	}
	if in.MaxEventBytes == 0 {
		in.MaxEventBytes = DefaultMaxEventBytes
	}
	if in.MaxRequestBytes == 0 {
		in.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if in.MaxRequestBytes < in.MaxEventBytes {
		fail(0, "intake.max_request_bytes (%s) is smaller than intake.max_event_bytes (%s): raise it", in.MaxRequestBytes, in.MaxEventBytes)
	}
	if in.QueueSize == 0 {
		in.QueueSize = DefaultQueueSize
	}
	if in.QueueSize < 0 || in.QueueSize > MaxQueueSize {
		fail(0, "intake.queue_size %d is out of range: use 1 to %d", in.QueueSize, MaxQueueSize)
	}
	if in.Workers < 0 || in.Workers > MaxWorkers {
		fail(0, "intake.workers %d is out of range: use 0 (one per CPU) to %d", in.Workers, MaxWorkers)
	}
	if in.DrainTimeout == 0 {
		in.DrainTimeout = Duration(DefaultDrainTimeout)
	}
}

func (c *Config) normalizeReload(fail func(int, string, ...any)) {
	r := &c.Reload
	if r.Debounce == 0 {
		r.Debounce = Duration(DefaultReloadDebounce)
	}
	if r.DrainTimeout == 0 {
		r.DrainTimeout = Duration(DefaultReloadDrain)
	}
	if r.Debounce < 0 || r.DrainTimeout < 0 {
		fail(0, "reload.debounce and reload.drain_timeout must not be negative")
	}
}

func (s *Sink) normalize(fail func(string, ...any)) {
	s.normalizeShared(fail)
	if s.normalizeNetwork(fail) {
		return
	}
	switch s.Type {
	case "stdout":
		if s.Path != "" || s.Fsync != "" {
			fail("sink %q: type stdout takes no path or fsync", s.Name)
		}
	case "file":
		if s.Path == "" {
			fail("sink %q: type file needs a path", s.Name)
		}
		switch s.Fsync {
		case "":
			s.Fsync = "interval"
		case "always", "interval", "never":
		default:
			fail("sink %q: fsync %q is unknown: use always, interval or never", s.Name, s.Fsync)
		}
		if s.FsyncInterval == 0 {
			s.FsyncInterval = Duration(DefaultFsyncInterval)
		}
	case "":
		fail("sink %q has no type: use stdout, file, %s", s.Name, strings.Join(NetworkSinkTypes, ", "))
	default:
		fail("sink %q: type %q is unknown: use stdout, file, %s", s.Name, s.Type, strings.Join(NetworkSinkTypes, ", "))
	}
}

func (l *Listener) normalize(fail func(string, ...any)) {
	if l.Module == "" && l.ModuleBytes == nil {
		fail("listener %q has no module: set module to the path of a .wasm file", l.Name)
	}
	if len(l.Events) == 0 {
		l.Events = slices.Clone(abi.EventTypes)
	}
	if l.ModuleSHA256 != "" {
		l.ModuleSHA256 = strings.ToLower(l.ModuleSHA256)
		if !sha256Pattern.MatchString(l.ModuleSHA256) {
			fail("listener %q: module_sha256 %q is not a SHA-256 digest: use the 64 hex digits that sha256sum prints for the module", l.Name, l.ModuleSHA256)
		}
	}
	for _, e := range l.Events {
		if !abi.KnownEventType(e) {
			fail("listener %q: event type %q is unknown: use %s", l.Name, e, strings.Join(abi.EventTypes, " or "))
		}
	}
	if l.ConfigJSON == nil {
		js, err := nodeToJSON(&l.Config)
		if err != nil {
			fail("listener %q: config cannot be passed as JSON: %v", l.Name, err)
			js = []byte("{}")
		}
		l.ConfigJSON = js
	}
	if len(l.ConfigJSON) == 0 || l.ConfigJSON[0] != '{' {
		fail("listener %q: config must be a mapping", l.Name)
	}

	if l.Deadline == 0 {
		l.Deadline = Duration(DefaultDeadline)
	}
	if l.StartDeadline == 0 {
		l.StartDeadline = Duration(DefaultStartDeadline)
	}
	if l.MemoryLimit == 0 {
		l.MemoryLimit = DefaultMemoryLimit
	}
	if l.MemoryLimit < 1<<16 || l.MemoryLimit > 4<<30 {
		fail("listener %q: memory_limit %s is out of range: use 64KiB to 4GiB", l.Name, l.MemoryLimit)
	}
	if l.PoolSize == 0 {
		l.PoolSize = DefaultPoolSize
	}
	if l.PoolSize < 0 || l.PoolSize > MaxPoolSize {
		fail("listener %q: pool_size %d is out of range: use 1 to %d", l.Name, l.PoolSize, MaxPoolSize)
	}

	b := &l.Budgets
	defaultInt(&b.Signs, DefaultMaxSigns)
	defaultInt(&b.Emits, DefaultMaxEmits)
	defaultInt(&b.LogLines, DefaultMaxLogLines)
	defaultSize(&b.LogBytes, DefaultMaxLogBytes)
	defaultSize(&b.ClaimsBytes, DefaultMaxClaimsBytes)
	defaultSize(&b.EmitBytes, DefaultMaxEmitBytes)
	validateInstructions(b, l.Name, fail)
	if b.Signs < 0 || b.Emits < 0 || b.LogLines < 0 {
		fail("listener %q: budgets must not be negative", l.Name)
	}
	for _, budget := range []struct {
		name       string
		value, max int64
	}{
		{"signs", int64(b.Signs), MaxBudgetCount},
		{"emits", int64(b.Emits), MaxBudgetCount},
		{"log_lines", int64(b.LogLines), MaxBudgetCount},
		{"log_bytes", int64(b.LogBytes), MaxBudgetBytes},
		{"claims_bytes", int64(b.ClaimsBytes), MaxBudgetBytes},
		{"emit_bytes", int64(b.EmitBytes), MaxBudgetBytes},
	} {
		if budget.value > budget.max {
			fail("listener %q: budgets.%s %d is over the maximum %d", l.Name, budget.name, budget.value, budget.max)
		}
	}
}

// validateInstructions fills in and checks the instruction budgets.
func validateInstructions(b *Budgets, name string, fail func(string, ...any)) {
	for _, budget := range []struct {
		name  string
		value *int64
		def   int64
	}{
		{"instructions", &b.Instructions, DefaultInstructions},
		{"start_instructions", &b.StartInstructions, DefaultStartInstructions},
	} {
		if *budget.value == 0 {
			*budget.value = budget.def
		}
		if *budget.value < 0 || *budget.value > MaxInstructions {
			fail("listener %q: budgets.%s %d is out of range: use 1 to %d", name, budget.name, *budget.value, int64(MaxInstructions))
		}
	}
}

func defaultInt(v *int, d int) {
	if *v == 0 {
		*v = d
	}
}

func defaultSize(v *ByteSize, d ByteSize) {
	if *v == 0 {
		*v = d
	}
}

// errorAt formats a validation error with the file and, when known, line.
func (c *Config) errorAt(line int, msg string) error {
	return fmt.Errorf("%s %w: %s", c.Location(line), ErrInvalid, msg)
}

// Location returns "file:line:" for an entry of the config, "file:" when the
// line is unknown, and "config:" for a config not read from a file.
func (c *Config) Location(line int) string {
	name := c.Path
	if name == "" {
		name = "config"
	}
	if line > 0 {
		return fmt.Sprintf("%s:%d:", name, line)
	}
	return name + ":"
}

// recordLines stores the line of each sink and listener entry.
func recordLines(data []byte, c *Config) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return err
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("the top level must be a mapping")
	}
	top := root.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, value := top.Content[i].Value, top.Content[i+1]
		if value.Kind != yaml.SequenceNode {
			continue
		}
		for j, item := range value.Content {
			switch {
			case key == "sinks" && j < len(c.Sinks):
				c.Sinks[j].Line = item.Line
			case key == "listeners" && j < len(c.Listeners):
				c.Listeners[j].Line = item.Line
			}
		}
	}
	return nil
}

// yamlError turns yaml.v3's errors, which read "line 3: ...", into one
// error per problem in the "file:line: invalid config: ..." form that
// validation errors use.
func yamlError(name string, err error) error {
	messages := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		messages = te.Errors
	}
	errs := make([]error, len(messages))
	for i, m := range messages {
		m = unknownFieldPattern.ReplaceAllStringFunc(m, func(match string) string {
			parts := unknownFieldPattern.FindStringSubmatch(match)
			section := strings.ToLower(parts[2])
			if section == "config" {
				section = "the top level"
			}
			return fmt.Sprintf("unknown key %q in %s: check its spelling against the documented keys", parts[1], section)
		})
		m = unmarshalPattern.ReplaceAllStringFunc(m, func(match string) string {
			parts := unmarshalPattern.FindStringSubmatch(match)
			return fmt.Sprintf("invalid value %s: expected %s", parts[2], expectedKind(parts[3]))
		})
		if line := linePattern.FindStringSubmatch(m); line != nil {
			errs[i] = fmt.Errorf("%s:%s: %w: %s", name, line[1], ErrInvalid, line[2])
		} else {
			errs[i] = fmt.Errorf("%s: %w: %s", name, ErrInvalid, m)
		}
	}
	return errors.Join(errs...)
}

// unmarshalPattern matches yaml.v3's "cannot unmarshal !!str `yes` into
// bool", capturing the YAML tag, the value and the Go type.
var unmarshalPattern = regexp.MustCompile("cannot unmarshal !!(\\w+) (`[^`]*`|into) ?(?:into )?(\\S+)")

// expectedKind names what a config value of Go type goType is written as.
func expectedKind(goType string) string {
	switch {
	case goType == "bool":
		return "true or false"
	case goType == "int" || goType == "int64":
		return "an integer"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case goType == "string":
		return "a string"
	default:
		return "a mapping"
	}
}

// sha256Pattern matches a lowercase hex SHA-256 digest.
var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// linePattern splits yaml.v3's "line N: message".
var linePattern = regexp.MustCompile(`^line (\d+): (.*)$`)

// unknownFieldPattern matches yaml.v3's message for a key that no struct
// field takes, capturing the key and the Go type name.
var unknownFieldPattern = regexp.MustCompile(`field (\S+) not found in type config\.(\w+)`)
