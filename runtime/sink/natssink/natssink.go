// Package natssink delivers payloads to a NATS JetStream stream.
//
// Each message carries the payload's event id or jti as its Nats-Msg-Id,
// so JetStream drops a redelivery that arrives within the stream's
// duplicate window. The stream must exist and take the subject.
package natssink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tokenwire/tokenwire/internal/outbox"
	"github.com/tokenwire/tokenwire/internal/payload"
)

// Options configure a Driver.
type Options struct {
	// URL is the NATS server URL, such as nats://127.0.0.1:4222.
	URL string
	// Subject receives the messages.
	Subject string
	// CredsFile is a NATS credentials file. Empty: no credentials.
	CredsFile string
}

// Driver publishes payloads to one subject.
type Driver struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
}

// New connects to the server in the background: a server that is down now
// is retried, and Deliver fails until it is reachable.
func New(o Options) (*Driver, error) {
	if o.URL == "" || o.Subject == "" {
		return nil, errors.New("nats sink: url and subject are required")
	}
	opts := []nats.Option{
		nats.Name("tokenwire"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// No buffering while disconnected: a publish fails at once and
		// the payload stays in the outbox.
		nats.ReconnectBufSize(-1),
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats sink: connect %s: %w", o.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats sink: %w", err)
	}
	return &Driver{nc: nc, js: js, subject: o.Subject}, nil
}

// Deliver publishes msgs asynchronously, in order, and waits for each
// acknowledgement from the stream.
func (d *Driver) Deliver(ctx context.Context, msgs []outbox.Record) []error {
	if !d.nc.IsConnected() {
		return outbox.AllFailed(fmt.Errorf("nats %s: not connected (%s)", d.nc.Opts.Url, d.nc.Status()), len(msgs))
	}
	futures := make([]jetstream.PubAckFuture, len(msgs))
	errs := make([]error, len(msgs))
	failed := false
	for i, m := range msgs {
		msg := nats.NewMsg(d.subject)
		msg.Data = m.Payload
		if id := payload.Of(m.Payload).ID; id != "" {
			msg.Header.Set(jetstream.MsgIDHeader, id)
		}
		f, err := d.js.PublishMsgAsync(msg)
		if err != nil {
			errs[i], failed = fmt.Errorf("publish to %s: %w", d.subject, err), true
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs[i], failed = fmt.Errorf("publish to %s: %w", d.subject, err), true
		case <-ctx.Done():
			errs[i], failed = fmt.Errorf("publish to %s: no acknowledgement: %w", d.subject, ctx.Err()), true
		}
	}
	if !failed {
		return nil
	}
	return errs
}

// Close closes the connection.
func (d *Driver) Close() error {
	d.nc.Close()
	return nil
}
