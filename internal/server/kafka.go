package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

// ConsumeKafka reads events from the topic of k as a member of its
// consumer group until ctx ends. Each polled batch is written to the
// journal and queued for dispatch before its offsets are committed, so a
// crash either leaves the events journaled, dispatched on the next start,
// or uncommitted, read again by this or another member. A record that is
// not a valid event is logged and skipped.
func (s *Server) ConsumeKafka(ctx context.Context, k config.KafkaIntake) error {
	if s.journal == nil {
		return errors.New("kafka intake needs the intake journal")
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(k.Brokers...),
		kgo.ConsumerGroup(k.Group),
		kgo.ConsumeTopics(k.Topic),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(k.SessionTimeout.Std()),
		// A third of the session timeout, as Kafka advises, at most the
		// client's default of 3s.
		kgo.HeartbeatInterval(min(3*time.Second, k.SessionTimeout.Std()/3)),
		kgo.ClientID("tokenwire"),
	)
	if err != nil {
		return fmt.Errorf("kafka intake: %w", err)
	}
	defer cl.Close()
	s.logger.Info("consuming events from kafka", "topic", k.Topic, "group", k.Group)
	for {
		fetches := cl.PollRecords(ctx, s.limits.QueueSize)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			s.logger.Warn("kafka fetch failed", "topic", topic, "partition", partition, "error", err)
		})
		records := fetches.Records()
		if len(records) == 0 {
			continue
		}
		jobs := s.decodeRecords(records)
		if !s.journalWait(ctx, jobs) || !s.pushWait(ctx, jobs) {
			return nil
		}
		if err := cl.CommitRecords(ctx, records...); err != nil {
			// The events are journaled; a member that reads them again
			// dispatches them twice, which at-least-once allows.
			s.logger.Warn("kafka offset commit failed: the events may be read again", "records", len(records), "error", err)
		}
	}
}

// decodeRecords turns record values into jobs, logging invalid events.
func (s *Server) decodeRecords(records []*kgo.Record) []job {
	var jobs []job
	for _, r := range records {
		dec := intake.NewDecoder(bytes.NewReader(r.Value), *s.intake.Load())
		for {
			ev, err := dec.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				s.logger.Warn("kafka record contains an invalid event: skipped", "partition", r.Partition, "offset", r.Offset, "error", err)
				var lineErr *intake.Error
				if errors.As(err, &lineErr) {
					continue
				}
				break
			}
			jobs = append(jobs, job{id: ev.ID, eventType: ev.Type, encoded: intake.Encode(ev)})
		}
	}
	return jobs
}

// journalWait journals jobs, retrying while the journal is full or fails.
// It returns false when ctx ends first.
func (s *Server) journalWait(ctx context.Context, jobs []job) bool {
	for {
		err := s.journalJobs(jobs)
		if err == nil {
			return true
		}
		s.logger.Warn("journal kafka events failed: retrying", "events", len(jobs), "error", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}
