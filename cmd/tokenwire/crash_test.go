package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tokenwire/tokenwire/internal/natstest"
	"github.com/tokenwire/tokenwire/internal/outbox/outboxtest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// tokenwireBinary builds the tokenwire command once per test run.
func tokenwireBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tokenwire-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tokenwire")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// idSet is a concurrent set of event ids with a count of deliveries.
type idSet struct {
	mu  sync.Mutex
	ids map[string]int
}

func (s *idSet) add(id string) {
	s.mu.Lock()
	if s.ids == nil {
		s.ids = map[string]int{}
	}
	s.ids[id]++
	s.mu.Unlock()
}

// missing returns the ids of want not in s, and how many deliveries s saw.
func (s *idSet) missing(want []string) ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	total := 0
	for _, n := range s.ids {
		total += n
	}
	for _, id := range want {
		if s.ids[id] == 0 {
			out = append(out, id)
		}
	}
	return out, total
}

// jtiOf reads the jti member of a claimfilter payload.
func jtiOf(t *testing.T, p []byte) string {
	var v struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(p, &v); err != nil || v.JTI == "" {
		t.Errorf("payload %q has no jti: %v", p, err)
	}
	return v.JTI
}

// daemonProcess is a tokenwire run child process.
type daemonProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
}

func startProcess(t *testing.T, bin, cfgPath, addr string) *daemonProcess {
	t.Helper()
	p := &daemonProcess{stderr: &syncBuffer{}}
	p.cmd = exec.Command(bin, "run", "--config", cfgPath, "--listen", addr)
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _, _ = p.cmd.Process.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("tokenwire not serving after 60s:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *daemonProcess) kill() error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	_, err := p.cmd.Process.Wait()
	return err
}

// TestCrashLosesNoEvent runs the real binary with http, kafka and nats
// sinks, keeps the http receiver down for a while, kills the process with
// SIGKILL in the middle of a stream of events, restarts it and checks that
// every event accepted with 202 reaches every sink at least once.
func TestCrashLosesNoEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tokenwire binary")
	}
	bin := tokenwireBinary(t)
	dir := t.TempDir()

	// http receiver: down (503) until up is set.
	var httpGot idSet
	var isUp bool
	var upMu sync.Mutex
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upMu.Lock()
		ok := isUp
		upMu.Unlock()
		if !ok {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		httpGot.add(jtiOf(t, body))
	}))
	defer receiver.Close()

	cluster, err := kfake.NewCluster(kfake.SeedTopics(3, "token-events"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()

	ns, stream := natstest.Start(t, -1, "tokens.issued")

	filter, _ := filepath.Abs("../../examples/claimfilter/claimfilter.wasm")
	var listeners strings.Builder
	for _, s := range []string{"webhook", "kafka", "nats"} {
		fmt.Fprintf(&listeners, "  - name: to-%s\n    module: %s\n    config: {claims: [jti, sub], sink: %s}\n    sinks: [%s]\n", s, filter, s, s)
	}
	cfg := fmt.Sprintf(`outbox:
  path: %s
sinks:
  - name: webhook
    type: http
    http: {url: %s}
    # The receiver stays down for as long as the restart takes, which on a
    # loaded machine is many retries: no payload may be given up meanwhile.
    delivery: {backoff_initial: 20ms, backoff_max: 200ms, breaker_failures: 1000, max_attempts: 1000000, timeout: 2s}
  - name: kafka
    type: kafka
    kafka: {brokers: [%q], topic: token-events}
    delivery: {backoff_initial: 20ms, backoff_max: 200ms, breaker_cooldown: 200ms, max_attempts: 1000000, timeout: 2s}
  - name: nats
    type: nats
    nats: {url: %q, subject: tokens.issued}
    delivery: {backoff_initial: 20ms, backoff_max: 200ms, breaker_cooldown: 200ms, max_attempts: 1000000, timeout: 2s}
listeners:
%s`, filepath.Join(dir, "outbox.db"), receiver.URL, cluster.ListenAddrs()[0], ns.ClientURL(), listeners.String())
	cfgPath := filepath.Join(dir, "tokenwire.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	addr := fmt.Sprintf("127.0.0.1:%d", outboxtest.FreePort(t))
	proc := startProcess(t, bin, cfgPath, addr)

	const batches, perBatch = 40, 10
	var accepted []string
	post := func(b int) bool {
		var body bytes.Buffer
		var ids []string
		for i := range perBatch {
			id := fmt.Sprintf("ev-%03d-%02d", b, i)
			ids = append(ids, id)
			fmt.Fprintf(&body, `{"id":%q,"type":"id_token.issued","claims":{"iss":"https://op.example.com","sub":"user%d","aud":"client","iat":1767600843,"exp":1767604443,"jti":%q}}`+"\n", id, i%4, id)
		}
		resp, err := http.Post("http://"+addr+"/v1/events", "application/x-ndjson", &body)
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			accepted = append(accepted, ids...)
			return true
		}
		return false
	}
	for b := range batches / 2 {
		post(b)
		time.Sleep(10 * time.Millisecond)
	}
	// Kill mid-stream: posts go on while the process dies.
	killed := make(chan error, 1)
	go func() { killed <- proc.kill() }()
	for b := batches / 2; b < batches/2+5; b++ {
		post(b)
	}
	if err := <-killed; err != nil && !strings.Contains(err.Error(), "killed") {
		t.Fatalf("SIGKILL: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	proc = startProcess(t, bin, cfgPath, addr)
	for b := batches/2 + 5; b < batches; b++ {
		if !post(b) {
			t.Fatalf("batch %d refused after restart:\n%s", b, proc.stderr.String())
		}
	}
	upMu.Lock()
	isUp = true
	upMu.Unlock()

	// Read kafka and nats from the start while waiting.
	var kafkaGot, natsGot idSet
	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("token-events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	cons, err := stream.OrderedConsumer(context.Background(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) { kafkaGot.add(jtiOf(t, r.Value)) })
		cancel()
		if batch, err := cons.FetchNoWait(500); err == nil {
			for m := range batch.Messages() {
				natsGot.add(jtiOf(t, m.Data()))
			}
		}
		missHTTP, nHTTP := httpGot.missing(accepted)
		missKafka, nKafka := kafkaGot.missing(accepted)
		missNATS, nNATS := natsGot.missing(accepted)
		if len(missHTTP)+len(missKafka)+len(missNATS) == 0 {
			t.Logf("%d events accepted; deliveries: http %d, kafka %d, nats %d", len(accepted), nHTTP, nKafka, nNATS)
			break
		}
		if time.Now().After(deadline) {
			first := func(ids []string) []string { return ids[:min(3, len(ids))] }
			t.Fatalf("%d accepted events; missing: http %d (%q), kafka %d (%q), nats %d (%q)\nlog:\n%s",
				len(accepted), len(missHTTP), first(missHTTP), len(missKafka), first(missKafka), len(missNATS), first(missNATS), proc.stderr.String())
		}
	}
	if len(accepted) < (batches-5)*perBatch {
		t.Errorf("only %d events accepted, want at least %d", len(accepted), (batches-5)*perBatch)
	}
}

// TestSinkDownNeverHangsIntake posts events one request at a time while
// the only sink's receiver stalls every request. Each response must be a 202
// or, once the sink's queue is full, a 503 with Retry-After, and none may
// wait on the sink.
func TestSinkDownNeverHangsIntake(t *testing.T) {
	release := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer stalled.Close()
	defer close(release)

	dir := t.TempDir()
	filter, _ := filepath.Abs("../../examples/claimfilter/claimfilter.wasm")
	cfg := fmt.Sprintf(`outbox:
  path: %s
  retry_after: 2s
sinks:
  - name: webhook
    type: http
    http: {url: %s}
    delivery: {max_queue: 20, timeout: 30s}
listeners:
  - name: to-webhook
    module: %s
    config: {claims: [jti, sub], sink: webhook}
    sinks: [webhook]
`, filepath.Join(dir, "outbox.db"), stalled.URL, filter)
	cfgPath := filepath.Join(dir, "tokenwire.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _, stderr, stop := startDaemon(t, "--config", cfgPath)
	client := &http.Client{Timeout: 5 * time.Second}
	var accepted, refused int
	for i := range 60 {
		body := fmt.Sprintf(`{"id":"ev-%02d","type":"id_token.issued","claims":{"iss":"https://op.example.com","sub":"u","aud":"c","iat":1767600843,"jti":"ev-%02d"}}`, i, i)
		resp, err := client.Post(base+"/v1/events", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("request %d: %v (a hang shows as a client timeout)", i, err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			accepted++
		case http.StatusServiceUnavailable:
			refused++
			if got := resp.Header.Get("Retry-After"); got != "2" {
				t.Errorf("503 Retry-After = %q, want 2", got)
			}
		default:
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		// Let dispatch reach the outbox before the next admission check.
		time.Sleep(5 * time.Millisecond)
	}
	if accepted < 20 || refused == 0 {
		t.Errorf("%d accepted and %d refused; want the 20 the queue holds accepted, then 503s", accepted, refused)
	}
	stopped := make(chan int, 1)
	go func() { stopped <- stop() }()
	select {
	case code := <-stopped:
		if code != exitOK {
			t.Errorf("exit %d:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("run did not stop with a stalled sink:\n%s", stderr.String())
	}
}

// TestKafkaIntakeSurvivesKill runs two tokenwire processes as one Kafka
// consumer group, kills one with SIGKILL while events stream in, restarts
// it, and checks that every produced event reaches the sink.
func TestKafkaIntakeSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tokenwire binary")
	}
	bin := tokenwireBinary(t)
	var got idSet
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got.add(jtiOf(t, body))
	}))
	defer receiver.Close()
	cluster, err := kfake.NewCluster(kfake.SeedTopics(4, "events-in"), kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()

	filter, _ := filepath.Abs("../../examples/claimfilter/claimfilter.wasm")
	start := func(name string) (*daemonProcess, string, string) {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		cfg := fmt.Sprintf(`outbox: {path: %s}
kafka_intake: {brokers: [%q], topic: events-in, group: tokenwire, session_timeout: 2s}
sinks:
  - name: webhook
    type: http
    http: {url: %s}
    delivery: {backoff_initial: 20ms, backoff_max: 200ms, max_attempts: 1000000}
listeners:
  - {name: f, module: %s, config: {claims: [jti, sub], sink: webhook}, sinks: [webhook]}
`, filepath.Join(dir, "outbox.db"), cluster.ListenAddrs()[0], receiver.URL, filter)
		cfgPath := filepath.Join(dir, "tokenwire.yaml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", outboxtest.FreePort(t))
		return startProcess(t, bin, cfgPath, addr), cfgPath, addr
	}
	a, aConfig, aAddr := start("a")
	b, _, _ := start("b")

	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("events-in"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	var produced []string
	produce := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			id := fmt.Sprintf("k-%04d", i)
			produced = append(produced, id)
			value := fmt.Sprintf(`{"id":%q,"type":"id_token.issued","claims":{"iss":"https://op.example.com","sub":"user%d","aud":"c","iat":1767600843,"jti":%q}}`, id, i%8, id)
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprintf("user%d", i%8)), Value: []byte(value)})
		}
		if err := producer.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitDelivered := func(n int, timeout time.Duration) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			missing, _ := got.missing(produced)
			if len(produced)-len(missing) >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d produced events delivered after %s; first missing %q\nA:\n%s\nB:\n%s",
					len(produced)-len(missing), len(produced), timeout, missing[:min(3, len(missing))], a.stderr.String(), b.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	produce(0, 200)
	waitDelivered(50, 60*time.Second)
	if err := a.kill(); err != nil && !strings.Contains(err.Error(), "killed") {
		t.Fatalf("SIGKILL: %v", err)
	}
	produce(200, 400)
	a = startProcess(t, bin, aConfig, aAddr)
	waitDelivered(400, 60*time.Second)
	for name, p := range map[string]*daemonProcess{"A": a, "B": b} {
		if !strings.Contains(p.stderr.String(), "consuming events from kafka") {
			t.Errorf("process %s did not join the consumer group:\n%s", name, p.stderr.String())
		}
	}
}
