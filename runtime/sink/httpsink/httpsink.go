// Package httpsink delivers payloads by HTTP POST: plain webhooks, and
// Security Event Token push delivery (RFC 8935).
//
// Payloads are sent one request each, oldest first. The first retryable
// failure stops the batch, so a receiver gets each payload only after every
// payload queued before it, apart from payloads it rejected for good.
package httpsink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tokenwire/tokenwire/internal/outbox"
	"github.com/tokenwire/tokenwire/internal/payload"
)

// Defaults.
const (
	DefaultTimeout         = 10 * time.Second
	DefaultSignatureHeader = "X-Tokenwire-Signature"
	// SETContentType is the media type of a SET (RFC 8417 section 2.3).
	SETContentType = "application/secevent+jwt"
)

// Options configure a Driver.
type Options struct {
	// URL receives the POSTs.
	URL string
	// Headers are added to every request.
	Headers map[string]string
	// ContentType of the body. Default application/json, or
	// application/secevent+jwt under SETPush.
	ContentType string
	// HMACKey, when set, signs each body: the SignatureHeader carries
	// "t=<unix seconds>,v1=<hex HMAC-SHA256(key, t + "." + body)>".
	HMACKey []byte
	// SignatureHeader names the signature header. Default
	// X-Tokenwire-Signature.
	SignatureHeader string
	// Timeout bounds one request. Default 10s.
	Timeout time.Duration
	// SETPush follows RFC 8935: success is 202, and a 400 carries a JSON
	// error {"err", "description"} that is never retried.
	SETPush bool
	// Client sends the requests. Default: a client with Timeout.
	Client *http.Client
}

// Driver POSTs payloads to one URL.
type Driver struct {
	o Options
}

// New returns a Driver for o.
func New(o Options) (*Driver, error) {
	if o.URL == "" {
		return nil, errors.New("http sink: no url")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.SignatureHeader == "" {
		o.SignatureHeader = DefaultSignatureHeader
	}
	if o.ContentType == "" {
		o.ContentType = "application/json"
		if o.SETPush {
			o.ContentType = SETContentType
		}
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	return &Driver{o: o}, nil
}

// Deliver POSTs msgs in order and stops at the first retryable failure.
func (d *Driver) Deliver(ctx context.Context, msgs []outbox.Record) []error {
	var errs []error
	for i, m := range msgs {
		err := d.post(ctx, m.Payload)
		if err == nil {
			continue
		}
		if errs == nil {
			errs = make([]error, len(msgs))
		}
		errs[i] = err
		if !outbox.IsPermanent(err) {
			for j := i + 1; j < len(msgs); j++ {
				errs[j] = outbox.ErrNotAttempted
			}
			break
		}
	}
	return errs
}

// Sign returns the signature header value for body at time t.
func Sign(key, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

func (d *Driver) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.o.URL, bytes.NewReader(body))
	if err != nil {
		return outbox.Permanent(fmt.Errorf("build request to %s: %w", d.o.URL, err))
	}
	for k, v := range d.o.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", d.o.ContentType)
	if d.o.SETPush {
		req.Header.Set("Accept", "application/json")
	}
	if id := payload.Of(body).ID; id != "" {
		req.Header.Set("Idempotency-Key", id)
	}
	if d.o.HMACKey != nil {
		req.Header.Set(d.o.SignatureHeader, Sign(d.o.HMACKey, body, time.Now()))
	}
	resp, err := d.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", d.o.URL, err)
	}
	defer resp.Body.Close()
	// The body is read, up to a bound, so the connection can be reused.
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return d.classify(resp.StatusCode, msg)
}

// classify turns a response status into nil, a retryable error or a
// permanent one.
func (d *Driver) classify(status int, body []byte) error {
	switch {
	case d.o.SETPush && status == http.StatusAccepted:
		return nil
	case !d.o.SETPush && status >= 200 && status < 300:
		return nil
	case d.o.SETPush && status == http.StatusBadRequest:
		// RFC 8935 section 2.4: the receiver rejected this SET.
		var e struct {
			Err         string `json:"err"`
			Description string `json:"description"`
		}
		_ = json.Unmarshal(body, &e)
		return outbox.Permanent(fmt.Errorf("receiver %s rejected the SET: err %q: %s", d.o.URL, e.Err, e.Description))
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return fmt.Errorf("receiver %s responded with status %d", d.o.URL, status)
	case status >= 400:
		return outbox.Permanent(fmt.Errorf("receiver %s responded with status %d: %s", d.o.URL, status, bytes.TrimSpace(body)))
	default:
		// A SET receiver that responds with 200 or a redirect does not
		// follow the protocol. It may be misconfigured, so the sink retries.
		return fmt.Errorf("receiver %s responded with status %d, expected %s", d.o.URL, status, expected(d.o.SETPush))
	}
}

func expected(setPush bool) string {
	if setPush {
		return "202"
	}
	return "2xx"
}

// Close releases idle connections.
func (d *Driver) Close() error {
	d.o.Client.CloseIdleConnections()
	return nil
}
