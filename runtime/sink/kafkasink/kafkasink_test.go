package kafkasink

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tokenwire/tokenwire/internal/outbox"
	"github.com/tokenwire/tokenwire/internal/outbox/outboxtest"
)

// TestKafkaDownThenUp queues events while no broker listens, then starts a
// kfake cluster on that address and checks every event arrives, keyed by
// subject, with each subject's events in order on one partition.
func TestKafkaDownThenUp(t *testing.T) {
	port := outboxtest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	d, err := New(Options{Brokers: []string{addr}, Topic: "token-events", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	q := outboxtest.Queue(t, "kafka")
	const events = 300
	for i := range events {
		outboxtest.Enqueue(t, q, fmt.Sprintf(`{"id":"e%03d","subject":"user%d","seq":%d}`, i, i%7, i))
	}
	policy := outboxtest.FastRetry
	policy.Batch = 50
	dl := outbox.Deliver(q, d, policy, outboxtest.Quiet)
	defer dl.Stop()

	time.Sleep(1500 * time.Millisecond) // broker down: rounds fail
	if n, _ := q.Len(); n != events {
		t.Fatalf("queue holds %d with the broker down, want %d", n, events)
	}
	cluster, err := kfake.NewCluster(kfake.Ports(port), kfake.SeedTopics(3, "token-events"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	outboxtest.WaitEmpty(t, q, 20*time.Second)

	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("token-events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	seen := map[string]bool{}
	partitionOf := map[string]int32{}
	lastSeq := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for len(seen) < events {
		fetches := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d distinct events, want %d", len(seen), events)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			var id, subject string
			var seq int
			if _, err := fmt.Sscanf(string(r.Value), `{"id":"%4s","subject":"user%d","seq":%d}`, &id, new(int), &seq); err != nil {
				t.Errorf("unexpected record %q: %v", r.Value, err)
				return
			}
			subject = string(r.Key)
			if h := headerValue(r, "id"); h != id {
				t.Errorf("record %s has id header %q", id, h)
			}
			if p, ok := partitionOf[subject]; ok && p != r.Partition {
				t.Errorf("subject %s on partitions %d and %d", subject, p, r.Partition)
			}
			partitionOf[subject] = r.Partition
			if last, ok := lastSeq[subject]; ok && seq <= last && !seen[id] {
				t.Errorf("subject %s: seq %d after %d", subject, seq, last)
			}
			lastSeq[subject] = seq
			seen[id] = true
		})
	}
	if len(partitionOf) != 7 {
		t.Errorf("records carried %d distinct keys, want 7 subjects", len(partitionOf))
	}
}

func headerValue(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
