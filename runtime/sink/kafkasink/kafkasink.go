// Package kafkasink delivers payloads to a Kafka topic with franz-go.
//
// Each record is keyed by the payload's subject (see internal/payload), so
// the default partitioner puts one subject's events on one partition, in
// order. The producer is idempotent (franz-go's default, kept on), so the
// client's own retries never write a record twice; redeliveries after a
// crash carry the event id or jti in the "id" header for consumers to
// deduplicate.
package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tokenwire/tokenwire/internal/outbox"
	"github.com/tokenwire/tokenwire/internal/payload"
)

// Options configure a Driver.
type Options struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Topic receives the records.
	Topic string
	// Timeout bounds the delivery of one batch. Default 10s, minimum 1s
	// (franz-go's floor for a record timeout).
	Timeout time.Duration
	// ClientID names the client to the brokers. Default "tokenwire".
	ClientID string
}

// Driver produces payloads to one topic.
type Driver struct {
	cl    *kgo.Client
	topic string
}

// New returns a Driver; it does not wait for the brokers to be reachable.
func New(o Options) (*Driver, error) {
	if len(o.Brokers) == 0 || o.Topic == "" {
		return nil, errors.New("kafka sink: brokers and topic are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.ClientID == "" {
		o.ClientID = "tokenwire"
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(o.Brokers...),
		kgo.ClientID(o.ClientID),
		kgo.DefaultProduceTopic(o.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(o.Timeout),
		kgo.ProducerLinger(0),
		// The outbox retries with its own backoff; the client's own
		// waits stay short so a broker that returns is used at once.
		kgo.RetryBackoffFn(func(tries int) time.Duration { return min(time.Duration(tries)*50*time.Millisecond, time.Second) }),
		kgo.MetadataMinAge(100*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka sink: %w", err)
	}
	return &Driver{cl: cl, topic: o.Topic}, nil
}

// Deliver produces msgs and waits for every acknowledgement.
func (d *Driver) Deliver(ctx context.Context, msgs []outbox.Record) []error {
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		meta := payload.Of(m.Payload)
		r := &kgo.Record{Value: m.Payload}
		if meta.Subject != "" {
			r.Key = []byte(meta.Subject)
		}
		if meta.ID != "" {
			r.Headers = []kgo.RecordHeader{{Key: "id", Value: []byte(meta.ID)}}
		}
		recs[i] = r
	}
	index := make(map[*kgo.Record]int, len(recs))
	for i, r := range recs {
		index[r] = i
	}
	// Results come in completion order, not in the order given.
	var errs []error
	for _, res := range d.cl.ProduceSync(ctx, recs...) {
		if res.Err == nil {
			continue
		}
		if errs == nil {
			errs = make([]error, len(msgs))
		}
		errs[index[res.Record]] = fmt.Errorf("produce to %s: %w", d.topic, res.Err)
	}
	return errs
}

// Close flushes nothing (Deliver waits for every record) and closes the
// client.
func (d *Driver) Close() error {
	d.cl.Close()
	return nil
}
