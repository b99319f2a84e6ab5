// Package delivery opens the outbox of a configuration and the network
// sinks that deliver from it: http, set-push, set-poll, kafka, nats and
// sqs.
//
// Emit to a network sink returns once the payload is in the outbox file.
// A delivery loop per sink then sends it on and retries with backoff
// behind a circuit breaker. What it cannot deliver moves to the sink's dead
// letters. The guarantee is at-least-once: receivers deduplicate by the
// event id or the SET's jti.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/tokenwire/tokenwire/internal/outbox"
	"github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/sink"
	"github.com/tokenwire/tokenwire/runtime/sink/httpsink"
	"github.com/tokenwire/tokenwire/runtime/sink/kafkasink"
	"github.com/tokenwire/tokenwire/runtime/sink/natssink"
	"github.com/tokenwire/tokenwire/runtime/sink/sqssink"
)

// Delivery is an open outbox with the delivery loops of its sinks.
type Delivery struct {
	store      *outbox.Store
	sinks      map[string]sink.Sink
	queues     []*outbox.Queue
	deliverers []*outbox.Deliverer
	polls      map[string]*PollQueue
	journal    *outbox.Queue
	retryAfter config.Duration
	push       bool // a set-push sink is configured
}

// Open opens cfg's outbox and starts a delivery loop per network sink. It
// returns an empty Delivery when cfg has no outbox.
func Open(cfg *config.Config, logger *slog.Logger) (*Delivery, error) {
	d := &Delivery{sinks: map[string]sink.Sink{}, polls: map[string]*PollQueue{}, retryAfter: cfg.Outbox.RetryAfter}
	if cfg.Outbox.Path == "" {
		return d, nil
	}
	store, err := outbox.Open(cfg.Outbox.Path, outbox.Options{})
	if err != nil {
		return nil, err
	}
	d.store = store
	if cfg.Outbox.JournalOn() {
		d.journal, err = store.Journal(outbox.Limits{MaxEntries: cfg.Outbox.JournalMaxEvents})
		if err != nil {
			d.Close()
			return nil, err
		}
	}
	for _, sc := range cfg.Sinks {
		if !sc.IsNetwork() {
			continue
		}
		if err := d.open(sc, logger); err != nil {
			d.Close()
			return nil, fmt.Errorf("%s sink %q: %w", cfg.Location(sc.Line), sc.Name, err)
		}
	}
	return d, nil
}

func (d *Delivery) open(sc config.Sink, logger *slog.Logger) error {
	q, err := d.store.Queue(sc.Name, outbox.Limits{MaxEntries: sc.Delivery.MaxQueue, MaxBytes: int64(sc.Delivery.MaxQueueBytes)})
	if err != nil {
		return err
	}
	transform, err := redactor(sc.Redact)
	if err != nil {
		return err
	}
	d.queues = append(d.queues, q)
	d.sinks[sc.Name] = outbox.NewSink(q, transform)
	d.push = d.push || sc.Type == "set-push"
	if sc.Type == "set-poll" {
		p := &PollQueue{q: q, redeliverAfter: DefaultRedeliverAfter}
		if sc.SETPoll.AuthTokenFile != "" {
			p.token, err = readSecret(sc.SETPoll.AuthTokenFile, "set_poll.auth_token_file")
			if err != nil {
				return err
			}
		}
		d.polls[sc.Name] = p
		return nil
	}
	drv, err := driver(sc)
	if err != nil {
		return err
	}
	dv := sc.Delivery
	d.deliverers = append(d.deliverers, outbox.Deliver(q, drv, outbox.Policy{
		Batch:           dv.Batch,
		Timeout:         dv.Timeout.Std(),
		MaxAttempts:     dv.MaxAttempts,
		MaxAge:          dv.MaxAge.Std(),
		BackoffInitial:  dv.BackoffInitial.Std(),
		BackoffMax:      dv.BackoffMax.Std(),
		BreakerFailures: dv.BreakerFailures,
		BreakerCooldown: dv.BreakerCooldown.Std(),
	}, logger))
	n, _ := q.Len()
	logger.Info("sink delivery started", "sink", sc.Name, "type", sc.Type, "queued", n)
	return nil
}

// driver builds the driver of a network sink.
func driver(sc config.Sink) (outbox.Driver, error) {
	switch sc.Type {
	case "http", "set-push":
		o := httpsink.Options{
			URL:             sc.HTTP.URL,
			Headers:         sc.HTTP.Headers,
			SignatureHeader: sc.HTTP.SignatureHeader,
			Timeout:         sc.Delivery.Timeout.Std(),
			SETPush:         sc.Type == "set-push",
		}
		if sc.HTTP.HMACKeyFile != "" {
			key, err := readSecret(sc.HTTP.HMACKeyFile, "http.hmac_key_file")
			if err != nil {
				return nil, err
			}
			o.HMACKey = key
		}
		return httpsink.New(o)
	case "kafka":
		return kafkasink.New(kafkasink.Options{Brokers: sc.Kafka.Brokers, Topic: sc.Kafka.Topic, Timeout: max(sc.Delivery.Timeout.Std(), minKafkaTimeout)})
	case "nats":
		return natssink.New(natssink.Options{URL: sc.NATS.URL, Subject: sc.NATS.Subject, CredsFile: sc.NATS.CredsFile})
	case "sqs":
		return sqssink.New(context.Background(), sqssink.Options{QueueURL: sc.SQS.QueueURL, Region: sc.SQS.Region, Endpoint: sc.SQS.Endpoint, MessageGroupID: sc.SQS.MessageGroupID})
	}
	return nil, fmt.Errorf("type %q has no driver", sc.Type)
}

// minKafkaTimeout is franz-go's smallest record delivery timeout.
const minKafkaTimeout = time.Second

// readSecret reads a key or token file, without surrounding whitespace.
func readSecret(path, field string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	secret := []byte(strings.TrimSpace(string(data)))
	if len(secret) < 16 {
		return nil, fmt.Errorf("%s %s: the secret has %d bytes: use at least 16 random bytes, for example from \"openssl rand -hex 32\"", field, path, len(secret))
	}
	return secret, nil
}

// Options returns the runtime options that route emits to the network
// sinks.
func (d *Delivery) Options() []runtime.Option {
	var opts []runtime.Option
	for name, s := range d.sinks {
		opts = append(opts, runtime.WithSink(name, s))
	}
	return opts
}

// Journal returns the intake journal, or nil when it is off.
func (d *Delivery) Journal() *outbox.Queue { return d.journal }

// Polls returns the set-poll queues by sink name.
func (d *Delivery) Polls() map[string]*PollQueue { return d.polls }

// Congested returns the name of a sink whose queue is full, or "" when
// every queue has room. Intake responds with 503 while one is full, because
// events accepted now would find no room for their payloads.
func (d *Delivery) Congested() string {
	for _, q := range d.queues {
		if q.Full() {
			return q.Name()
		}
	}
	return ""
}

// RetryAfter is the Retry-After of a 503 caused by a full queue.
func (d *Delivery) RetryAfter() config.Duration { return d.retryAfter }

// Close stops every delivery loop after its round in progress and closes
// the outbox. Undelivered payloads stay in the file for the next start.
func (d *Delivery) Close() error {
	var errs []error
	for _, dl := range d.deliverers {
		errs = append(errs, dl.Stop())
	}
	d.deliverers = nil
	if d.store != nil {
		errs = append(errs, d.store.Close())
		d.store = nil
	}
	return errors.Join(errs...)
}
