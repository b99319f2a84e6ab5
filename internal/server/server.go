// Package server is the HTTP front of "tokenwire run": event intake, the
// public signing keys and a health check.
package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tokenwire/tokenwire/internal/outbox"
	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

// maxReportedProblems bounds how many invalid lines a 400 response lists.
const maxReportedProblems = 100

// Server accepts events over HTTP and dispatches them with a bounded queue
// and a fixed number of workers. A request returns once its events are
// queued, before any listener runs.
type Server struct {
	rt *twruntime.Runtime
	// intake holds the event decoding options, which a reload replaces.
	intake  atomic.Pointer[intake.Options]
	limits  config.Intake
	logger  *slog.Logger
	queue   *queue
	workers sync.WaitGroup
	// authToken, when set, is the bearer token POST /v1/events requires.
	authToken []byte
	// adminToken, when set, is the bearer token the admin routes require;
	// reload serves POST /v1/admin/reload.
	adminToken []byte
	reload     ReloadFunc
	// journal, when set, holds every accepted event until it is
	// dispatched (see journal.go).
	journal *outbox.Queue
	// congested, when set, names a full sink queue; intake answers 503
	// while it does.
	congested  func() string
	retryAfter string
	routes     map[string]http.Handler
	// decoding holds one token per request body being decoded, which
	// bounds the memory intake uses to a few times max_request_bytes per
	// CPU however many senders post at once.
	decoding chan struct{}
}

// Option configures a Server.
type Option func(*Server)

// WithAuthToken requires senders of events to present token as a bearer
// token.
func WithAuthToken(token []byte) Option { return func(s *Server) { s.authToken = token } }

// New returns a Server for rt and starts its dispatch workers.
func New(rt *twruntime.Runtime, limits config.Intake, opts intake.Options, logger *slog.Logger, options ...Option) *Server {
	s := &Server{
		rt:       rt,
		limits:   limits,
		logger:   logger,
		queue:    newQueue(limits.QueueSize),
		routes:   map[string]http.Handler{},
		decoding: make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
	s.intake.Store(&opts)
	for _, o := range options {
		o(s)
	}
	workers := limits.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	for range workers {
		s.workers.Add(1)
		go s.work()
	}
	return s
}

func (s *Server) work() {
	defer s.workers.Done()
	for {
		j, ok := s.queue.pop()
		if !ok {
			return
		}
		// Listener failures are logged by the runtime with the event id.
		err := s.rt.DispatchEncoded(context.Background(), j.id, j.eventType, j.encoded)
		// The check keeps the arguments from being boxed for every event
		// when debug logging is off.
		if s.logger.Enabled(context.Background(), slog.LevelDebug) {
			s.logger.Debug("event dispatched", "event_id", j.id, "type", j.eventType, "failed", err != nil)
		}
		s.unjournal(j)
		s.queue.done()
	}
}

// SetIntake replaces the event decoding options for requests that start
// from now on, as a reload that changes the issuer or the token keys does.
func (s *Server) SetIntake(opts intake.Options) { s.intake.Store(&opts) }

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", s.postEvents)
	mux.HandleFunc("GET /.well-known/jwks.json", s.getJWKS)
	mux.HandleFunc("GET /v1/status", s.getStatus)
	mux.HandleFunc("POST /v1/admin/reload", s.postReload)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	for pattern, h := range s.routes {
		mux.Handle(pattern, h)
	}
	return mux
}

// Drain stops admitting events and waits until every accepted event is
// dispatched or ctx ends. It returns how many events were left undispatched.
func (s *Server) Drain(ctx context.Context) int {
	s.queue.close()
	left := s.queue.wait(ctx)
	if left == 0 {
		s.workers.Wait()
	}
	return left
}

func (s *Server) getJWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=300")
	// JWKS returns a new slice on each call, without a line break at the end.
	_, _ = w.Write(append(s.rt.JWKS(), '\n'))
}

// problem is an RFC 9457 problem document.
type problem struct {
	Title    string        `json:"title"`
	Status   int           `json:"status"`
	Detail   string        `json:"detail,omitempty"`
	Problems []lineProblem `json:"problems,omitempty"`
}

// lineProblem is one invalid event of a request.
type lineProblem struct {
	Line   int    `json:"line"`
	Detail string `json:"detail"`
}

// unauthorized returns why req lacks the bearer token, or "" when it has
// it or token is nil.
func unauthorized(req *http.Request, token []byte) string {
	if token == nil {
		return ""
	}
	const prefix = "Bearer "
	header := req.Header.Get("Authorization")
	switch {
	case header == "":
		return "no Authorization header"
	case len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix):
		return "Authorization header is not a bearer token"
	case subtle.ConstantTimeCompare([]byte(header[len(prefix):]), token) != 1:
		return "wrong bearer token"
	}
	return ""
}

// reject writes a problem document response and logs the rejection.
func (s *Server) reject(w http.ResponseWriter, req *http.Request, p problem) {
	s.logger.Info("event request rejected", "status", p.Status, "reason", p.Title, "remote", req.RemoteAddr, "invalid_events", len(p.Problems))
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// postEvents accepts one JSON event or NDJSON. The whole request is
// validated first: any invalid event rejects the request with 400 and none
// of its events is dispatched, so a sender can fix and resend it whole.
func (s *Server) postEvents(w http.ResponseWriter, req *http.Request) {
	if reason := unauthorized(req, s.authToken); reason != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenwire"`)
		s.logger.Info("event request rejected", "status", http.StatusUnauthorized, "reason", reason, "remote", req.RemoteAddr)
		writeProblem(w, problem{
			Title:  "unauthorized",
			Status: http.StatusUnauthorized,
			Detail: "send the intake token as \"Authorization: Bearer <token>\"",
		})
		return
	}
	select {
	case s.decoding <- struct{}{}:
		defer func() { <-s.decoding }()
	case <-req.Context().Done():
		return
	}
	body := http.MaxBytesReader(w, req.Body, int64(s.limits.MaxRequestBytes))
	dec := intake.NewDecoder(body, *s.intake.Load())
	var (
		jobs     []job
		problems []lineProblem
		tooLarge bool
	)
	for {
		ev, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			s.reject(w, req, problem{
				Title:  "request too large",
				Status: http.StatusRequestEntityTooLarge,
				Detail: fmt.Sprintf("the request body exceeds %s (intake.max_request_bytes): send fewer events per request", s.limits.MaxRequestBytes),
			})
			return
		}
		if err != nil {
			var lineErr *intake.Error
			if !errors.As(err, &lineErr) {
				s.logger.Warn("read event request failed", "error", err)
				s.reject(w, req, problem{Title: "invalid request", Status: http.StatusBadRequest, Detail: err.Error()})
				return
			}
			if errors.Is(err, intake.ErrTooLarge) {
				tooLarge = true
			}
			if len(problems) < maxReportedProblems {
				problems = append(problems, lineProblem{Line: lineErr.Line, Detail: err.Error()})
			}
			continue
		}
		if len(jobs) == s.limits.QueueSize {
			s.reject(w, req, problem{
				Title:  "too many events",
				Status: http.StatusRequestEntityTooLarge,
				Detail: fmt.Sprintf("the request holds more than %d events, the size of the whole queue (intake.queue_size): split it into smaller requests", s.limits.QueueSize),
			})
			return
		}
		jobs = append(jobs, job{id: ev.ID, eventType: ev.Type, encoded: intake.Encode(ev)})
	}

	switch {
	case tooLarge && len(problems) == 1:
		s.reject(w, req, problem{
			Title:    "event too large",
			Status:   http.StatusRequestEntityTooLarge,
			Detail:   fmt.Sprintf("an event exceeds %s (intake.max_event_bytes)", s.limits.MaxEventBytes),
			Problems: problems,
		})
		return
	case len(problems) > 0:
		s.reject(w, req, problem{
			Title:    "invalid events",
			Status:   http.StatusBadRequest,
			Detail:   fmt.Sprintf("%d invalid event(s); no event of this request was accepted", len(problems)),
			Problems: problems,
		})
		return
	case len(jobs) == 0:
		s.reject(w, req, problem{Title: "no events", Status: http.StatusBadRequest, Detail: "the request body holds no event: send one JSON object, or NDJSON"})
		return
	}

	if sink := s.congestedSink(); sink != "" {
		w.Header().Set("Retry-After", s.retryAfter)
		s.reject(w, req, problem{
			Title:  "sink queue full",
			Status: http.StatusServiceUnavailable,
			Detail: fmt.Sprintf("the outbox queue of sink %q is full (its delivery.max_queue or max_queue_bytes): retry later", sink),
		})
		return
	}
	if err := s.journalJobs(jobs); err != nil {
		w.Header().Set("Retry-After", s.retryAfter)
		s.reject(w, req, problem{Title: "journal unavailable", Status: http.StatusServiceUnavailable, Detail: err.Error() + ": retry later"})
		return
	}
	if !s.queue.push(jobs) {
		s.unjournalAll(jobs)
		w.Header().Set("Retry-After", "1")
		s.reject(w, req, problem{
			Title:  "queue full",
			Status: http.StatusServiceUnavailable,
			Detail: fmt.Sprintf("%d events are waiting for dispatch (intake.queue_size %d): retry later", s.queue.length(), s.limits.QueueSize),
		})
		return
	}
	s.logger.Debug("events accepted", "count", len(jobs), "remote", req.RemoteAddr)
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.id
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(struct {
		IDs []string `json:"ids"`
	}{ids})
}
