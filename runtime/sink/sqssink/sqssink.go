// Package sqssink delivers payloads to an Amazon SQS queue with
// aws-sdk-go-v2, ten at a time with SendMessageBatch.
//
// Credentials and the region come from the SDK's standard chain
// (environment, shared config files, web identity, instance roles). A FIFO
// queue is one whose URL ends in ".fifo". There each message gets a message
// group id, the configured one or else the payload's subject, so one
// subject's events stay in order. Each also gets a deduplication id, the
// payload's event id or jti or else the SHA-256 of the payload, so SQS drops
// redeliveries within its five-minute deduplication interval.
package sqssink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/tokenwire/tokenwire/internal/outbox"
	"github.com/tokenwire/tokenwire/internal/payload"
)

// SQS limits of one SendMessageBatch call.
const (
	maxBatchEntries = 10
	maxBatchBytes   = 256 << 10
)

// Options configure a Driver.
type Options struct {
	// QueueURL is the queue. Required.
	QueueURL string
	// Region overrides the region of the standard chain.
	Region string
	// Endpoint overrides the SQS endpoint, for SQS-compatible servers.
	Endpoint string
	// MessageGroupID is the group of every message to a FIFO queue.
	// Default: the payload's subject, else "tokenwire".
	MessageGroupID string
}

// Driver sends payloads to one queue.
type Driver struct {
	client *sqs.Client
	o      Options
	fifo   bool
}

// New loads the AWS configuration and returns a Driver.
func New(ctx context.Context, o Options) (*Driver, error) {
	if o.QueueURL == "" {
		return nil, errors.New("sqs sink: no queue_url")
	}
	var opts []func(*awsconfig.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, awsconfig.WithRegion(o.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("sqs sink: load AWS configuration: %w", err)
	}
	client := sqs.NewFromConfig(cfg, func(so *sqs.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		// The outbox retries; the SDK's own retries would hold a round
		// past its timeout.
		so.RetryMaxAttempts = 1
	})
	return &Driver{client: client, o: o, fifo: strings.HasSuffix(o.QueueURL, ".fifo")}, nil
}

// Deliver sends msgs in batches within SQS's limits.
func (d *Driver) Deliver(ctx context.Context, msgs []outbox.Record) []error {
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(msgs))
		}
		errs[i] = err
	}
	for start := 0; start < len(msgs); {
		end, size := start, 0
		for end < len(msgs) && end-start < maxBatchEntries && (end == start || size+len(msgs[end].Payload) <= maxBatchBytes) {
			size += len(msgs[end].Payload)
			end++
		}
		entries := make([]types.SendMessageBatchRequestEntry, 0, end-start)
		for i := start; i < end; i++ {
			entries = append(entries, d.entry(i, msgs[i].Payload))
		}
		out, err := d.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(d.o.QueueURL), Entries: entries})
		if err != nil {
			for i := start; i < len(msgs); i++ {
				if i < end {
					fail(i, fmt.Errorf("sqs SendMessageBatch: %w", err))
				} else {
					fail(i, outbox.ErrNotAttempted)
				}
			}
			return errs
		}
		for _, f := range out.Failed {
			i, convErr := strconv.Atoi(aws.ToString(f.Id))
			if convErr != nil || i < start || i >= end {
				continue
			}
			err := fmt.Errorf("sqs rejected the message: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
			if f.SenderFault {
				err = outbox.Permanent(err)
			}
			fail(i, err)
		}
		start = end
	}
	return errs
}

// entry builds the batch entry of message i.
func (d *Driver) entry(i int, p []byte) types.SendMessageBatchRequestEntry {
	e := types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(p))}
	if !d.fifo {
		return e
	}
	meta := payload.Of(p)
	group := d.o.MessageGroupID
	if group == "" {
		group = meta.Subject
	}
	if group == "" {
		group = "tokenwire"
	}
	dedup := meta.ID
	if dedup == "" || len(dedup) > 128 {
		sum := sha256.Sum256(p)
		dedup = hex.EncodeToString(sum[:])
	}
	e.MessageGroupId = aws.String(group)
	e.MessageDeduplicationId = aws.String(dedup)
	return e
}

// Close does nothing; the SDK client holds no resources to release.
func (d *Driver) Close() error { return nil }
