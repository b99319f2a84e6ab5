package config

import (
	"net/url"
	"time"
)

// Defaults of the outbox and of network sinks.
const (
	DefaultMaxQueue         = 100_000
	DefaultMaxQueueBytes    = 256 << 20
	DefaultMaxAttempts      = 20
	DefaultMaxAge           = 24 * time.Hour
	DefaultDeliveryBatch    = 100
	DefaultDeliveryTimeout  = 10 * time.Second
	DefaultBackoffInitial   = 100 * time.Millisecond
	DefaultBackoffMax       = 30 * time.Second
	DefaultBreakerFailures  = 5
	DefaultBreakerCooldown  = 30 * time.Second
	DefaultJournalMaxEvents = 100_000
	DefaultRetryAfter       = time.Second
)

// NetworkSinkTypes are the sink types delivered through the outbox.
var NetworkSinkTypes = []string{"http", "set-push", "set-poll", "kafka", "nats", "sqs"}

// Outbox configures the durable store between emit and the network sinks,
// and the intake journal.
type Outbox struct {
	// Path is the bbolt file holding every sink's queue, the dead letters
	// and the intake journal. Required when a network sink is configured
	// or the journal is on.
	Path string `yaml:"path"`
	// Journal makes "tokenwire run" write each accepted event to the
	// outbox before it responds with 202, and dispatch journaled events again
	// after a crash. Default true when Path is set.
	Journal *bool `yaml:"journal"`
	// JournalMaxEvents bounds the events journaled and not yet
	// dispatched. Past it, intake responds with 503. Default 100000.
	JournalMaxEvents int `yaml:"journal_max_events"`
	// RetryAfter is the Retry-After of a 503 caused by a full queue.
	// Default 1s.
	RetryAfter Duration `yaml:"retry_after"`
}

// JournalOn reports whether the intake journal is on.
func (o *Outbox) JournalOn() bool {
	return o.Path != "" && (o.Journal == nil || *o.Journal)
}

// Delivery is the retry policy and the queue bounds of one network sink.
type Delivery struct {
	// MaxQueue bounds the payloads queued for the sink; past it emit
	// returns UNAVAILABLE and intake responds with 503. Default 100000.
	MaxQueue int `yaml:"max_queue"`
	// MaxQueueBytes bounds the payload bytes queued for the sink, and so
	// the disk the queue takes (about this plus 20% for the file's own
	// structure). Default 256MiB.
	MaxQueueBytes ByteSize `yaml:"max_queue_bytes"`
	// MaxAttempts moves a payload to the dead letters after this many
	// failed attempts. Default 20.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxAge moves a payload that fails and was queued longer ago than
	// this to the dead letters. Default 24h.
	MaxAge Duration `yaml:"max_age"`
	// Batch is the most payloads sent in one round. Default 100.
	Batch int `yaml:"batch"`
	// Timeout bounds one round. Default 10s.
	Timeout Duration `yaml:"timeout"`
	// BackoffInitial and BackoffMax bound the wait after a failed round:
	// it doubles per failure, with jitter. Defaults 100ms and 30s.
	BackoffInitial Duration `yaml:"backoff_initial"`
	BackoffMax     Duration `yaml:"backoff_max"`
	// BreakerFailures failed rounds in a row open the circuit breaker.
	// Default 5.
	BreakerFailures int `yaml:"breaker_failures"`
	// BreakerCooldown is how long an open breaker waits before it probes
	// the sink with one payload. Default 30s.
	BreakerCooldown Duration `yaml:"breaker_cooldown"`
}

// HTTPSink configures the "http" and "set-push" sink types.
type HTTPSink struct {
	// URL receives one POST per payload. Required.
	URL string `yaml:"url"`
	// Headers are added to every request.
	Headers map[string]string `yaml:"headers"`
	// HMACKeyFile holds a key that signs each body with HMAC-SHA256 in
	// SignatureHeader. Empty: no signature.
	HMACKeyFile string `yaml:"hmac_key_file"`
	// SignatureHeader names the signature header. Default
	// X-Tokenwire-Signature.
	SignatureHeader string `yaml:"signature_header"`
}

// KafkaSink configures the "kafka" sink type.
type KafkaSink struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string `yaml:"brokers"`
	// Topic receives the records. Required.
	Topic string `yaml:"topic"`
}

// NATSSink configures the "nats" sink type.
type NATSSink struct {
	// URL is the server, such as nats://127.0.0.1:4222. Required.
	URL string `yaml:"url"`
	// Subject receives the messages; a JetStream stream must take it.
	// Required.
	Subject string `yaml:"subject"`
	// CredsFile is a NATS credentials file. Optional.
	CredsFile string `yaml:"creds_file"`
}

// SETPollSink configures the "set-poll" sink type: SETs wait in the outbox
// until a receiver polls them (RFC 8936).
type SETPollSink struct {
	// AuthTokenFile holds the bearer token receivers present. Empty: any
	// client that reaches the endpoint can poll.
	AuthTokenFile string `yaml:"auth_token_file"`
}

// SQSSink configures the "sqs" sink type. Credentials come from the AWS
// SDK's standard chain.
type SQSSink struct {
	// QueueURL is the queue. Required. A URL ending in ".fifo" is a FIFO
	// queue.
	QueueURL string `yaml:"queue_url"`
	// Region of the queue. Default: from the standard chain.
	Region string `yaml:"region"`
	// Endpoint overrides the SQS endpoint, for SQS-compatible servers.
	Endpoint string `yaml:"endpoint"`
	// MessageGroupID is the group of every message to a FIFO queue.
	// Default: the payload's subject, else "tokenwire".
	MessageGroupID string `yaml:"message_group_id"`
}

// KafkaIntake makes "tokenwire run" consume events from a Kafka topic as
// one member of a consumer group, beside HTTP intake. Offsets are committed
// only after the events are in the intake journal, so it needs the outbox
// with the journal on.
type KafkaIntake struct {
	// Brokers are the seed brokers, host:port. Required with Topic.
	Brokers []string `yaml:"brokers"`
	// Topic holds one JSON event, or NDJSON, per record. Empty: off.
	Topic string `yaml:"topic"`
	// Group is the consumer group that the tokenwire processes share.
	// Default "tokenwire".
	Group string `yaml:"group"`
	// SessionTimeout is how long the group waits for heartbeats of a
	// member before its partitions go to the others. Default 45s.
	SessionTimeout Duration `yaml:"session_timeout"`
}

// Rotate configures rotation of a "file" sink. Zero fields mean no limit.
type Rotate struct {
	// MaxBytes starts a new file before one would pass this size.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxAge starts a new file at the first write after this long.
	MaxAge Duration `yaml:"max_age"`
	// Keep is how many rotated files are kept. Default: all.
	Keep int `yaml:"keep"`
}

// Redact removes or hashes claims of JSON payloads before a sink queues
// them.
type Redact struct {
	// Drop lists members removed. A name is a top-level member or a dotted
	// path, such as "claims.email".
	Drop []string `yaml:"drop"`
	// Hash lists members whose value is replaced by
	// base64url(HMAC-SHA256(key, value as JSON)).
	Hash []string `yaml:"hash"`
	// HashKeyFile holds the HMAC key. Required when Hash is set.
	HashKeyFile string `yaml:"hash_key_file"`
}

// IsNetwork reports whether the sink delivers through the outbox.
func (s *Sink) IsNetwork() bool {
	for _, t := range NetworkSinkTypes {
		if s.Type == t {
			return true
		}
	}
	return false
}

func (c *Config) resolveDeliveryPaths(resolve func(*string)) {
	resolve(&c.Outbox.Path)
	for i := range c.Sinks {
		s := &c.Sinks[i]
		if s.HTTP != nil {
			resolve(&s.HTTP.HMACKeyFile)
		}
		if s.NATS != nil {
			resolve(&s.NATS.CredsFile)
		}
		if s.SETPoll != nil {
			resolve(&s.SETPoll.AuthTokenFile)
		}
		if s.Redact != nil {
			resolve(&s.Redact.HashKeyFile)
		}
	}
}

func (c *Config) normalizeOutbox(fail func(int, string, ...any)) {
	o := &c.Outbox
	if o.JournalMaxEvents == 0 {
		o.JournalMaxEvents = DefaultJournalMaxEvents
	}
	if o.JournalMaxEvents < 0 {
		fail(0, "outbox.journal_max_events %d is negative", o.JournalMaxEvents)
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = Duration(DefaultRetryAfter)
	}
	if o.Journal != nil && *o.Journal && o.Path == "" {
		fail(0, "outbox.journal is on but outbox.path is not set: set outbox.path to a file, such as /var/lib/tokenwire/outbox.db")
	}
	if k := &c.KafkaIntake; k.Topic != "" || len(k.Brokers) > 0 {
		if k.Topic == "" || len(k.Brokers) == 0 {
			fail(0, "kafka_intake needs brokers and topic")
		}
		if !o.JournalOn() {
			fail(0, "kafka_intake commits offsets only after the intake journal holds the events: set outbox.path and leave outbox.journal on")
		}
		if k.Group == "" {
			k.Group = "tokenwire"
		}
		if k.SessionTimeout == 0 {
			k.SessionTimeout = Duration(45 * time.Second)
		}
	}
	for _, s := range c.Sinks {
		if s.IsNetwork() && o.Path == "" {
			fail(s.Line, "sink %q of type %s needs the outbox: set outbox.path to a file, such as /var/lib/tokenwire/outbox.db", s.Name, s.Type)
		}
	}
}

// normalizeNetwork fills defaults of a network sink and checks it. It
// reports false when Type is not a network type.
func (s *Sink) normalizeNetwork(fail func(string, ...any)) bool {
	if !s.IsNetwork() {
		return false
	}
	if s.Path != "" || s.Fsync != "" {
		fail("sink %q: type %s takes no path or fsync", s.Name, s.Type)
	}
	sections := map[string]bool{"http": s.HTTP != nil, "kafka": s.Kafka != nil, "nats": s.NATS != nil, "sqs": s.SQS != nil, "set_poll": s.SETPoll != nil}
	want := map[string]string{"http": "http", "set-push": "http", "kafka": "kafka", "nats": "nats", "sqs": "sqs", "set-poll": "set_poll"}[s.Type]
	for name, set := range sections {
		if set && name != want {
			fail("sink %q: type %s takes no %s section", s.Name, s.Type, name)
		}
	}
	switch s.Type {
	case "http", "set-push":
		if s.HTTP == nil || s.HTTP.URL == "" {
			fail("sink %q: type %s needs http.url", s.Name, s.Type)
		} else if u, err := url.Parse(s.HTTP.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fail("sink %q: http.url %q is not an http or https URL", s.Name, s.HTTP.URL)
		}
	case "kafka":
		if s.Kafka == nil || len(s.Kafka.Brokers) == 0 || s.Kafka.Topic == "" {
			fail("sink %q: type kafka needs kafka.brokers and kafka.topic", s.Name)
		}
	case "nats":
		if s.NATS == nil || s.NATS.URL == "" || s.NATS.Subject == "" {
			fail("sink %q: type nats needs nats.url and nats.subject", s.Name)
		}
	case "sqs":
		if s.SQS == nil || s.SQS.QueueURL == "" {
			fail("sink %q: type sqs needs sqs.queue_url", s.Name)
		}
	case "set-poll":
		if s.SETPoll == nil {
			s.SETPoll = &SETPollSink{}
		}
	}
	d := &s.Delivery
	defaultInt(&d.MaxQueue, DefaultMaxQueue)
	defaultSize(&d.MaxQueueBytes, DefaultMaxQueueBytes)
	defaultInt(&d.MaxAttempts, DefaultMaxAttempts)
	defaultInt(&d.Batch, DefaultDeliveryBatch)
	defaultInt(&d.BreakerFailures, DefaultBreakerFailures)
	defaultDuration(&d.MaxAge, DefaultMaxAge)
	defaultDuration(&d.Timeout, DefaultDeliveryTimeout)
	defaultDuration(&d.BackoffInitial, DefaultBackoffInitial)
	defaultDuration(&d.BackoffMax, DefaultBackoffMax)
	defaultDuration(&d.BreakerCooldown, DefaultBreakerCooldown)
	if d.MaxQueue < 0 || d.MaxAttempts < 0 || d.Batch < 0 || d.BreakerFailures < 0 {
		fail("sink %q: delivery counts must not be negative", s.Name)
	}
	if d.BackoffMax < d.BackoffInitial {
		fail("sink %q: delivery.backoff_max %s is below backoff_initial %s", s.Name, d.BackoffMax, d.BackoffInitial)
	}
	return true
}

// normalizeShared checks the sections any sink type may have.
func (s *Sink) normalizeShared(fail func(string, ...any)) {
	if s.Rotate != (Rotate{}) && s.Type != "file" {
		fail("sink %q: rotate applies to type file only", s.Name)
	}
	if s.Rotate.Keep < 0 {
		fail("sink %q: rotate.keep %d is negative", s.Name, s.Rotate.Keep)
	}
	if r := s.Redact; r != nil {
		if len(r.Hash) > 0 && r.HashKeyFile == "" {
			fail("sink %q: redact.hash needs redact.hash_key_file", s.Name)
		}
	}
}

func defaultDuration(v *Duration, d time.Duration) {
	if *v == 0 {
		*v = Duration(d)
	}
}
