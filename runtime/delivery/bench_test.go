package delivery

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tokenwire/tokenwire/internal/natstest"
	"github.com/tokenwire/tokenwire/internal/outbox"
	"github.com/tokenwire/tokenwire/internal/payload"
	"github.com/tokenwire/tokenwire/runtime/sink/httpsink"
	"github.com/tokenwire/tokenwire/runtime/sink/kafkasink"
	"github.com/tokenwire/tokenwire/runtime/sink/natssink"
)

// BenchmarkEndToEnd measures, one event at a time, the time from Publish
// on an outbox sink (the payload made durable) until a receiver started
// by the benchmark holds it. It reports the median and 99th percentile.
func BenchmarkEndToEnd(b *testing.B) {
	for _, tc := range []struct {
		name  string
		start func(b *testing.B, got chan<- string) outbox.Driver
	}{
		{"http", startHTTP},
		{"kafka", startKafka},
		{"nats", startNATS},
	} {
		b.Run(tc.name, func(b *testing.B) {
			got := make(chan string, 1024)
			drv := tc.start(b, got)
			s, err := outbox.Open(filepath.Join(b.TempDir(), "outbox.db"), outbox.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			q, _ := s.Queue(tc.name, outbox.Limits{})
			dl := outbox.Deliver(q, drv, outbox.Policy{Timeout: 5 * time.Second, BackoffInitial: time.Millisecond, BackoffMax: 10 * time.Millisecond}, quiet)
			defer dl.Stop()
			sk := outbox.NewSink(q, nil)
			lat := make([]time.Duration, 0, b.N)
			// One event first, so connection set-up is not measured.
			for i := -1; i < b.N; i++ {
				id := fmt.Sprintf("ev-%d", i)
				start := time.Now()
				if err := sk.Publish(context.Background(), []byte(`{"id":"`+id+`","subject":"alice"}`)); err != nil {
					b.Fatal(err)
				}
				for seen := ""; seen != id; {
					select {
					case seen = <-got:
					case <-time.After(10 * time.Second):
						b.Fatalf("event %s not received", id)
					}
				}
				if i >= 0 {
					lat = append(lat, time.Since(start))
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

func startHTTP(b *testing.B, got chan<- string) outbox.Driver {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- payload.Of(body).ID
	}))
	b.Cleanup(srv.Close)
	d, err := httpsink.New(httpsink.Options{URL: srv.URL, HMACKey: []byte("0123456789abcdef")})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func startKafka(b *testing.B, got chan<- string) outbox.Driver {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "events"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cluster.Close)
	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("events"), kgo.FetchMaxWait(10*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got <- payload.Of(r.Value).ID })
		}
	}()
	b.Cleanup(func() { cancel(); <-done; consumer.Close() })
	d, err := kafkasink.New(kafkasink.Options{Brokers: cluster.ListenAddrs(), Topic: "events"})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func startNATS(b *testing.B, got chan<- string) outbox.Driver {
	ns, _ := natstest.Start(b, -1, "events")
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	if _, err := nc.Subscribe("events", func(m *nats.Msg) { got <- payload.Of(m.Data).ID }); err != nil {
		b.Fatal(err)
	}
	d, err := natssink.New(natssink.Options{URL: ns.ClientURL(), Subject: "events"})
	if err != nil {
		b.Fatal(err)
	}
	return d
}
