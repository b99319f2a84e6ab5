package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/internal/cputime"
	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

// discardSink accepts every payload and drops it.
type discardSink struct{}

func (discardSink) Publish(context.Context, []byte) error { return nil }
func (discardSink) Close(context.Context) error           { return nil }

// benchBatchEvents is the number of events in one benchmark request.
const benchBatchEvents = 1000

// BenchmarkIntakeHTTP measures HTTP intake from POST to dispatch: GOMAXPROCS
// senders each post NDJSON requests of benchBatchEvents events, cycled
// from testdata/events/corpus.ndjson, over loopback HTTP to a Server whose
// runtime runs the minimal guest. The clock stops when every accepted event
// has been dispatched. It reports events/s and cpu-ns/event, the CPU time
// of the whole process per event, which includes the HTTP client. A 503
// (queue full) is retried after 1 ms and counted as retries/op.
func BenchmarkIntakeHTTP(b *testing.B) {
	benchmarkIntakeHTTP(b, newBenchServer(b, config.Sink{Name: "stdout", Type: "stdout"}))
}

// BenchmarkIntakeHTTPFileSink is BenchmarkIntakeHTTP with the guest's
// payloads appended to a file sink in the test's temporary directory, with
// the default fsync policy (every second), so the profile covers the whole
// event path from the HTTP request to the sink's write.
func BenchmarkIntakeHTTPFileSink(b *testing.B) {
	path := filepath.Join(b.TempDir(), "events.ndjson")
	benchmarkIntakeHTTP(b, newBenchServer(b, config.Sink{Name: "stdout", Type: "file", Path: path}))
}

func benchmarkIntakeHTTP(b *testing.B, srv *Server) {
	body := benchBatch(b)
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(ts.Close)
	client := ts.Client()
	senders := goruntime.GOMAXPROCS(0)
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = senders

	var retries int
	var retriesMu sync.Mutex
	post := func() error {
		for {
			resp, err := client.Post(ts.URL+"/v1/events", "application/x-ndjson", bytes.NewReader(body))
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusAccepted:
				return nil
			case http.StatusServiceUnavailable:
				retriesMu.Lock()
				retries++
				retriesMu.Unlock()
				time.Sleep(time.Millisecond)
			default:
				return &unexpectedStatus{code: resp.StatusCode}
			}
		}
	}

	b.SetBytes(int64(senders * len(body)))
	b.ReportAllocs()
	start := time.Now()
	startCPU := cputime.Process()
	requests := 0
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make([]error, senders)
		for i := range senders {
			wg.Go(func() { errs[i] = post() })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		requests += senders
	}
	if left := srv.queue.wait(context.Background()); left != 0 {
		b.Fatalf("%d events left undispatched", left)
	}
	events := requests * benchBatchEvents
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
	if usedCPU := cputime.Process() - startCPU; usedCPU > 0 {
		b.ReportMetric(float64(usedCPU)/float64(events), "cpu-ns/event")
	}
	b.ReportMetric(float64(retries)/float64(b.N), "retries/op")
}

// unexpectedStatus is the error for a response other than 202 or 503.
type unexpectedStatus struct{ code int }

func (e *unexpectedStatus) Error() string {
	return "POST /v1/events returned " + http.StatusText(e.code) + ", expected 202 Accepted"
}

// benchBatch returns benchBatchEvents lines of the event corpus as NDJSON,
// starting over at its first line as often as needed.
func benchBatch(b *testing.B) []byte {
	b.Helper()
	corpus, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", "corpus.ndjson"))
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.SplitAfter(bytes.TrimSpace(corpus), []byte("\n"))
	var body []byte
	for i := range benchBatchEvents {
		body = append(body, bytes.TrimSpace(lines[i%len(lines)])...)
		body = append(body, '\n')
	}
	return body
}

// newBenchServer returns a Server whose runtime has the minimal guest with
// a pool of GOMAXPROCS instances, the default number of workers, the sink
// out and room in the queue for 16 requests. A sink of type "stdout"
// discards its payloads.
func newBenchServer(b *testing.B, out config.Sink) *Server {
	b.Helper()
	workers := goruntime.GOMAXPROCS(0)
	cfg := &config.Config{
		Issuer: "https://op.example.com",
		Intake: config.Intake{QueueSize: 16 * benchBatchEvents},
		Sinks:  []config.Sink{out},
		Listeners: []config.Listener{{
			Name:     "minimal",
			Module:   filepath.Join("..", "..", "testdata", "guests", "minimal.wasm"),
			Sinks:    []string{"stdout"},
			PoolSize: workers,
		}},
	}
	if err := cfg.Normalize(); err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	opts := []twruntime.Option{twruntime.WithLogger(logger)}
	if out.Type == "stdout" {
		opts = append(opts, twruntime.WithSink("stdout", discardSink{}))
	}
	rt, err := twruntime.New(context.Background(), cfg, opts...)
	if err != nil {
		b.Fatal(err)
	}
	srv := New(rt, cfg.Intake, intake.Options{DefaultIssuer: cfg.Issuer, MaxEventBytes: int(cfg.Intake.MaxEventBytes)}, logger)
	b.Cleanup(func() {
		srv.Drain(context.Background())
		_ = rt.Close(context.Background())
	})
	return srv
}
