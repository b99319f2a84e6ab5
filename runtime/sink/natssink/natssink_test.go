package natssink

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tokenwire/tokenwire/internal/outbox"
)

// startServer starts an embedded nats-server with JetStream on port and a
// stream taking subject.
func startServer(t *testing.T, port int, subject string) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{subject}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestNATSDownThenUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	d, err := New(Options{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Subject: "tokens.issued"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, _ := s.Queue("nats", outbox.Limits{})
	const events = 200
	for i := range events {
		if _, err := q.Enqueue([]byte(fmt.Sprintf(`{"id":"e%03d"}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	// e000 again: JetStream must drop it by its message id.
	if _, err := q.Enqueue([]byte(`{"id":"e000"}`)); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dl := outbox.Deliver(q, d, outbox.Policy{Batch: 64, Timeout: time.Second, BackoffInitial: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, BreakerFailures: 1000, MaxAttempts: 1000}, logger)
	defer dl.Stop()

	time.Sleep(300 * time.Millisecond)
	if n, _ := q.Len(); n != events+1 {
		t.Fatalf("queue holds %d with the server down, want %d", n, events+1)
	}
	ns := startServer(t, port, "tokens.issued")
	defer ns.Shutdown()
	deadline := time.Now().Add(15 * time.Second)
	for n, _ := q.Len(); n > 0; n, _ = q.Len() {
		if time.Now().After(deadline) {
			t.Fatalf("%d still queued after the server came up", n)
		}
		time.Sleep(20 * time.Millisecond)
	}

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(context.Background(), "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= events; seq++ {
		m, err := stream.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatalf("stream message %d: %v", seq, err)
		}
		want := fmt.Sprintf(`{"id":"e%03d"}`, seq-1)
		if string(m.Data) != want || m.Header.Get(jetstream.MsgIDHeader) != want[7:11] {
			t.Fatalf("stream message %d = %s (id %q), want %s in order", seq, m.Data, m.Header.Get(jetstream.MsgIDHeader), want)
		}
	}
	info, _ := stream.Info(context.Background())
	if info.State.Msgs != events {
		t.Errorf("stream holds %d messages, want %d: the duplicate was not dropped", info.State.Msgs, events)
	}
}
