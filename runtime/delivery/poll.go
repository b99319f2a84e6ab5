package delivery

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tokenwire/tokenwire/internal/outbox"
	"github.com/tokenwire/tokenwire/internal/payload"
)

// Poll delivery settings.
const (
	// DefaultMaxEvents is how many SETs a poll returns when the request
	// names no maxEvents.
	DefaultMaxEvents = 100
	// maxMaxEvents caps the maxEvents of a request.
	maxMaxEvents = 1000
	// longPollWait is how long a poll with returnImmediately false waits
	// for a first SET.
	longPollWait = 15 * time.Second
	// DefaultRedeliverAfter is how long a SET sent and not acknowledged
	// waits before a poll returns it again.
	DefaultRedeliverAfter = 30 * time.Second
)

// PollQueue serves a "set-poll" sink's queue to receivers by RFC 8936
// poll delivery: acknowledged SETs are deleted, SETs a receiver reports
// errors for move to the dead letters, and SETs sent but not acknowledged
// are sent again after DefaultRedeliverAfter.
type PollQueue struct {
	q              *outbox.Queue
	token          []byte
	redeliverAfter time.Duration

	mu   sync.Mutex
	sent map[string]sentSET // by jti
}

type sentSET struct {
	seq uint64
	at  time.Time
}

// pollRequest is the body of an RFC 8936 poll (section 2.4).
type pollRequest struct {
	MaxEvents         *int                `json:"maxEvents"`
	ReturnImmediately bool                `json:"returnImmediately"`
	Ack               []string            `json:"ack"`
	SetErrs           map[string]setError `json:"setErrs"`
}

type setError struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// pollResponse is the body of the response to a poll (section 2.5).
type pollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable,omitempty"`
}

// jtiOf returns the id a receiver acknowledges a record by.
func jtiOf(r outbox.Record) string {
	if id := payload.Of(r.Payload).ID; id != "" {
		return id
	}
	return fmt.Sprintf("tokenwire-%d", r.Seq)
}

// ServeHTTP handles one poll request.
func (p *PollQueue) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if p.token != nil {
		h := req.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), p.token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tokenwire"`)
			http.Error(w, "send the poll token as \"Authorization: Bearer <token>\"", http.StatusUnauthorized)
			return
		}
	}
	var pr pollRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, 1<<20))
	if err := dec.Decode(&pr); err != nil {
		writeJSON(w, http.StatusBadRequest, setError{Err: "invalid_request", Description: "the body is not a poll request: " + err.Error()})
		return
	}
	if err := p.settle(pr); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	limit := DefaultMaxEvents
	if pr.MaxEvents != nil {
		limit = min(max(*pr.MaxEvents, 0), maxMaxEvents)
	}
	resp := pollResponse{Sets: map[string]string{}}
	if limit > 0 {
		ctx := req.Context()
		if !pr.ReturnImmediately {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, longPollWait)
			defer cancel()
		}
		for {
			more, err := p.take(limit, resp.Sets)
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			resp.MoreAvailable = more
			if len(resp.Sets) > 0 || pr.ReturnImmediately || !p.wait(ctx) {
				break
			}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// settle deletes acknowledged SETs and dead-letters those with errors.
func (p *PollQueue) settle(pr pollRequest) error {
	if len(pr.Ack) == 0 && len(pr.SetErrs) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	want := map[string]bool{}
	for _, j := range pr.Ack {
		want[j] = true
	}
	for j := range pr.SetErrs {
		want[j] = true
	}
	// The records are read again for their payloads; ids sent before a
	// restart are not in p.sent, so the whole queue is searched then.
	n := len(p.sent) + 1
	for j := range want {
		if _, ok := p.sent[j]; !ok {
			n = 0
			break
		}
	}
	all, err := p.q.Peek(n)
	if err != nil {
		return err
	}
	recs := make(map[string]outbox.Record, len(want))
	for _, r := range all {
		if j := jtiOf(r); want[j] {
			recs[j] = r
		}
	}
	var s outbox.Settlement
	for _, j := range pr.Ack {
		if r, ok := recs[j]; ok {
			s.Delivered = append(s.Delivered, r.Seq)
		}
		delete(p.sent, j)
	}
	for j, e := range pr.SetErrs {
		if r, ok := recs[j]; ok {
			r.Attempts++
			r.Reason = fmt.Sprintf("receiver error %q: %s", e.Err, e.Description)
			s.Dead = append(s.Dead, r)
		}
		delete(p.sent, j)
	}
	return p.q.Settle(s)
}

// take adds up to max SETs not sent recently to sets and reports whether
// more are waiting.
func (p *PollQueue) take(max int, sets map[string]string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sent == nil {
		p.sent = map[string]sentSET{}
	}
	recs, err := p.q.Peek(max + len(p.sent) + 1)
	if err != nil {
		return false, err
	}
	now := time.Now()
	for _, r := range recs {
		j := jtiOf(r)
		if s, ok := p.sent[j]; ok && now.Sub(s.at) < p.redeliverAfter {
			continue
		}
		if len(sets) == max {
			return true, nil
		}
		sets[j] = string(r.Payload)
		p.sent[j] = sentSET{seq: r.Seq, at: now}
	}
	return false, nil
}

// wait blocks until a SET is queued or ctx ends; it reports false then.
func (p *PollQueue) wait(ctx context.Context) bool {
	select {
	case <-p.q.Wake():
		return true
	case <-ctx.Done():
		return false
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
