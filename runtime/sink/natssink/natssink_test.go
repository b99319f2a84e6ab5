package natssink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tokenwire/tokenwire/internal/natstest"
	"github.com/tokenwire/tokenwire/internal/outbox"
	"github.com/tokenwire/tokenwire/internal/outbox/outboxtest"
)

// TestNATSDownThenUp queues events while no server listens, then starts an
// embedded nats-server on that port and checks every event arrives once,
// in order, with its id as Nats-Msg-Id.
func TestNATSDownThenUp(t *testing.T) {
	port := outboxtest.FreePort(t)
	d, err := New(Options{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Subject: "tokens.issued"})
	if err != nil {
		t.Fatal(err)
	}
	q := outboxtest.Queue(t, "nats")
	const events = 200
	for i := range events {
		outboxtest.Enqueue(t, q, fmt.Sprintf(`{"id":"e%03d"}`, i))
	}
	// e000 again: JetStream must drop it by its message id.
	outboxtest.Enqueue(t, q, `{"id":"e000"}`)
	policy := outboxtest.FastRetry
	policy.Batch = 64
	dl := outbox.Deliver(q, d, policy, outboxtest.Quiet)
	defer dl.Stop()

	time.Sleep(300 * time.Millisecond)
	if n, _ := q.Len(); n != events+1 {
		t.Fatalf("queue holds %d with the server down, want %d", n, events+1)
	}
	_, stream := natstest.Start(t, port, "tokens.issued")
	outboxtest.WaitEmpty(t, q, 15*time.Second)

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
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != events {
		t.Errorf("stream holds %d messages, want %d: the duplicate was not dropped", info.State.Msgs, events)
	}
}
