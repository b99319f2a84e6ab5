package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tokenwire/tokenwire/internal/outbox"
)

// WithJournal writes each accepted event to journal before the 202, and
// removes it once dispatched. Recover dispatches what a crash left there.
func WithJournal(journal *outbox.Queue) Option {
	return func(s *Server) { s.journal = journal }
}

// WithCongestion makes intake answer 503 with Retry-After retryAfter while
// congested names a sink whose queue is full.
func WithCongestion(congested func() string, retryAfter time.Duration) Option {
	return func(s *Server) {
		s.congested = congested
		s.retryAfter = strconv.Itoa(max(1, int((retryAfter+time.Second-1)/time.Second)))
	}
}

// WithRoute serves h at pattern, an http.ServeMux pattern.
func WithRoute(pattern string, h http.Handler) Option {
	return func(s *Server) { s.routes[pattern] = h }
}

func (s *Server) congestedSink() string {
	if s.congested == nil {
		return ""
	}
	return s.congested()
}

// journalJobs writes jobs to the journal in one group commit and records
// their sequence numbers.
func (s *Server) journalJobs(jobs []job) error {
	if s.journal == nil {
		return nil
	}
	payloads := make([][]byte, len(jobs))
	for i, j := range jobs {
		payloads[i] = j.encoded
	}
	seqs, err := s.journal.Enqueue(payloads...)
	if err != nil {
		return fmt.Errorf("journal %d events: %w", len(jobs), err)
	}
	for i := range jobs {
		jobs[i].seq = seqs[i]
	}
	return nil
}

// unjournal removes a dispatched job from the journal.
func (s *Server) unjournal(j job) {
	if s.journal == nil || j.seq == 0 {
		return
	}
	if err := s.journal.Settle(outbox.Settlement{Delivered: []uint64{j.seq}}); err != nil {
		s.logger.Warn("remove dispatched event from the journal failed: it is dispatched again after a restart", "event_id", j.id, "error", err)
	}
}

// unjournalAll removes jobs that were journaled and then not admitted.
func (s *Server) unjournalAll(jobs []job) {
	if s.journal == nil {
		return
	}
	var st outbox.Settlement
	for _, j := range jobs {
		st.Delivered = append(st.Delivered, j.seq)
	}
	if err := s.journal.Settle(st); err != nil {
		s.logger.Warn("remove refused events from the journal failed: they are dispatched after a restart", "events", len(jobs), "error", err)
	}
}

// Recover queues for dispatch every event the journal holds, which are the
// events accepted before a crash and not dispatched. It returns how many
// there were; they are queued in the background as room frees up, ahead of
// new events only as far as the queue allows.
func (s *Server) Recover(ctx context.Context) (int, error) {
	if s.journal == nil {
		return 0, nil
	}
	recs, err := s.journal.Peek(0)
	if err != nil {
		return 0, fmt.Errorf("read the intake journal: %w", err)
	}
	jobs := make([]job, 0, len(recs))
	for _, r := range recs {
		var head struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(r.Payload, &head); err != nil || head.ID == "" {
			s.logger.Error("journaled event is unreadable: dropped", "seq", r.Seq, "error", err)
			s.unjournal(job{seq: r.Seq})
			continue
		}
		jobs = append(jobs, job{id: head.ID, eventType: head.Type, encoded: r.Payload, seq: r.Seq})
	}
	if len(jobs) == 0 {
		return 0, nil
	}
	go s.pushWait(ctx, jobs)
	return len(jobs), nil
}

// pushWait queues jobs for dispatch in parts of at most half the queue,
// waiting while the queue is full. It returns false when ctx ends first.
func (s *Server) pushWait(ctx context.Context, jobs []job) bool {
	for len(jobs) > 0 {
		n := min(len(jobs), max(1, s.limits.QueueSize/2))
		if s.queue.push(jobs[:n]) {
			jobs = jobs[n:]
			continue
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}
