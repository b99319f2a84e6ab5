package outbox

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket name prefixes: a sink's queue and its dead letters.
const (
	queuePrefix = "q/"
	deadPrefix  = "dlq/"
	journalName = "journal"
)

// Limits bound a queue. Zero means no bound.
type Limits struct {
	// MaxEntries is the maximum number of payloads in the queue.
	MaxEntries int
	// MaxBytes is the maximum number of payload bytes in the queue.
	MaxBytes int64
}

// Queue is one sink's FIFO of payloads, or the intake journal, with its
// dead letters.
type Queue struct {
	s      *Store
	name   string
	bucket []byte
	dead   []byte
	limits Limits
	wake   chan struct{}

	mu      sync.Mutex
	entries int
	bytes   int64
}

// Queue opens the queue of the sink name, creating it when new, and counts
// what it holds.
func (s *Store) Queue(name string, limits Limits) (*Queue, error) {
	return s.openQueue(name, []byte(queuePrefix+name), []byte(deadPrefix+name), limits)
}

// Journal opens the intake journal: events accepted and not yet
// dispatched.
func (s *Store) Journal(limits Limits) (*Queue, error) {
	return s.openQueue(journalName, []byte(journalName), nil, limits)
}

func (s *Store) openQueue(name string, bucket, dead []byte, limits Limits) (*Queue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.queues[string(bucket)]; ok {
		q.limits = limits
		return q, nil
	}
	q := &Queue{s: s, name: name, bucket: bucket, dead: dead, limits: limits, wake: make(chan struct{}, 1)}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		if dead != nil {
			if _, err := tx.CreateBucketIfNotExists(dead); err != nil {
				return err
			}
		}
		return b.ForEach(func(_, v []byte) error {
			q.entries++
			q.bytes += payloadSize(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("open outbox queue %q: %w", name, err)
	}
	s.queues[string(bucket)] = q
	return q, nil
}

// payloadSize is the payload length of an encoded record.
func payloadSize(v []byte) int64 {
	if len(v) < recordHeader {
		return 0
	}
	r, err := decodeRecord(make([]byte, 8), v)
	if err != nil {
		return 0
	}
	return int64(len(r.Payload))
}

// Name returns the sink name, or "journal".
func (q *Queue) Name() string { return q.name }

// Wake receives a value after payloads are added.
func (q *Queue) Wake() <-chan struct{} { return q.wake }

// Len returns the number of payloads and of payload bytes in the queue.
func (q *Queue) Len() (int, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.entries, q.bytes
}

// Full reports whether the queue is at a bound, so the next payload would
// be rejected.
func (q *Queue) Full() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return (q.limits.MaxEntries > 0 && q.entries >= q.limits.MaxEntries) ||
		(q.limits.MaxBytes > 0 && q.bytes >= q.limits.MaxBytes)
}

// overLocked reports whether n more payloads of size bytes would pass a
// bound. The caller holds mu.
func (q *Queue) overLocked(n int, size int64) bool {
	return (q.limits.MaxEntries > 0 && q.entries+n > q.limits.MaxEntries) ||
		(q.limits.MaxBytes > 0 && q.bytes+size > q.limits.MaxBytes)
}

// Enqueue adds payloads at the tail, all or none, and returns once they are
// on disk. It returns the sequence numbers given to them, or ErrFull when
// they would pass a bound.
func (q *Queue) Enqueue(payloads ...[]byte) ([]uint64, error) {
	var size int64
	for _, p := range payloads {
		size += int64(len(p))
	}
	q.mu.Lock()
	if q.overLocked(len(payloads), size) {
		entries, bytes := q.entries, q.bytes
		q.mu.Unlock()
		return nil, fmt.Errorf("%w: %q contains %d payloads, %d bytes (limits %d, %d)", ErrFull, q.name, entries, bytes, q.limits.MaxEntries, q.limits.MaxBytes)
	}
	q.entries += len(payloads)
	q.bytes += size
	q.mu.Unlock()

	now := time.Now()
	seqs := make([]uint64, len(payloads))
	err := q.s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(q.bucket)
		for i, p := range payloads {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(seq), encodeRecord(Record{Enqueued: now, Payload: p})); err != nil {
				return err
			}
			seqs[i] = seq
		}
		return nil
	})
	if err != nil {
		q.mu.Lock()
		q.entries -= len(payloads)
		q.bytes -= size
		q.mu.Unlock()
		return nil, fmt.Errorf("outbox queue %q: %w", q.name, err)
	}
	q.notify()
	return seqs, nil
}

func (q *Queue) notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Peek returns up to max records from the head, oldest first, without
// removing them.
func (q *Queue) Peek(max int) ([]Record, error) {
	return q.read(q.bucket, max)
}

// DeadLetters returns every dead letter of the queue, oldest first.
func (q *Queue) DeadLetters() ([]Record, error) {
	if q.dead == nil {
		return nil, nil
	}
	return q.read(q.dead, 0)
}

func (q *Queue) read(bucket []byte, max int) ([]Record, error) {
	var out []Record
	err := q.s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.First(); k != nil && (max <= 0 || len(out) < max); k, v = c.Next() {
			r, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// Settlement is the outcome of one delivery round.
type Settlement struct {
	// Delivered are removed from the queue.
	Delivered []uint64
	// Retried are rewritten with their new Attempts and stay in place.
	Retried []Record
	// Dead move to the dead letters with their Reason.
	Dead []Record
}

// Settle applies s in one transaction.
func (q *Queue) Settle(s Settlement) error {
	var removed int
	var freed int64
	err := q.s.update(func(tx *bolt.Tx) error {
		removed, freed = 0, 0
		b := tx.Bucket(q.bucket)
		del := func(seq uint64) error {
			k := seqKey(seq)
			v := b.Get(k)
			if v == nil {
				return nil // settled already
			}
			removed++
			freed += payloadSize(v)
			return b.Delete(k)
		}
		for _, seq := range s.Delivered {
			if err := del(seq); err != nil {
				return err
			}
		}
		for _, r := range s.Retried {
			k := seqKey(r.Seq)
			if b.Get(k) == nil {
				continue
			}
			if err := b.Put(k, encodeRecord(r)); err != nil {
				return err
			}
		}
		if len(s.Dead) > 0 && q.dead == nil {
			return fmt.Errorf("queue %q has no dead letters", q.name)
		}
		for _, r := range s.Dead {
			if b.Get(seqKey(r.Seq)) == nil {
				continue
			}
			if err := del(r.Seq); err != nil {
				return err
			}
			d := tx.Bucket(q.dead)
			seq, err := d.NextSequence()
			if err != nil {
				return err
			}
			if err := d.Put(seqKey(seq), encodeRecord(r)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox queue %q: %w", q.name, err)
	}
	q.mu.Lock()
	q.entries -= removed
	q.bytes -= freed
	q.mu.Unlock()
	return nil
}

// Replay moves the dead letters seqs, or all of them when seqs is nil, back
// to the tail of the queue with no attempts counted, and returns how many
// moved.
func (q *Queue) Replay(seqs []uint64) (int, error) {
	var moved int
	var size int64
	err := q.s.update(func(tx *bolt.Tx) error {
		moved, size = 0, 0
		b, d := tx.Bucket(q.bucket), tx.Bucket(q.dead)
		return q.eachDead(d, seqs, func(k []byte, r Record) error {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(seq), encodeRecord(Record{Enqueued: r.Enqueued, Payload: r.Payload})); err != nil {
				return err
			}
			moved++
			size += int64(len(r.Payload))
			return d.Delete(k)
		})
	})
	if err != nil {
		return 0, fmt.Errorf("replay dead letters of %q: %w", q.name, err)
	}
	q.mu.Lock()
	q.entries += moved
	q.bytes += size
	q.mu.Unlock()
	if moved > 0 {
		q.notify()
	}
	return moved, nil
}

// Drop deletes the dead letters seqs, or all of them when seqs is nil, and
// returns how many were deleted.
func (q *Queue) Drop(seqs []uint64) (int, error) {
	var dropped int
	err := q.s.update(func(tx *bolt.Tx) error {
		dropped = 0
		d := tx.Bucket(q.dead)
		return q.eachDead(d, seqs, func(k []byte, _ Record) error {
			dropped++
			return d.Delete(k)
		})
	})
	if err != nil {
		return 0, fmt.Errorf("drop dead letters of %q: %w", q.name, err)
	}
	return dropped, nil
}

// eachDead calls fn for the dead letters seqs, or all when seqs is nil.
// Keys are collected first, as deleting during a cursor walk skips keys.
func (q *Queue) eachDead(d *bolt.Bucket, seqs []uint64, fn func(k []byte, r Record) error) error {
	if q.dead == nil {
		return fmt.Errorf("queue %q has no dead letters", q.name)
	}
	var keys [][]byte
	if seqs == nil {
		_ = d.ForEach(func(k, _ []byte) error {
			keys = append(keys, bytes.Clone(k))
			return nil
		})
	} else {
		for _, seq := range seqs {
			keys = append(keys, seqKey(seq))
		}
	}
	for _, k := range keys {
		v := d.Get(k)
		if v == nil {
			continue
		}
		r, err := decodeRecord(k, v)
		if err != nil {
			return err
		}
		if err := fn(k, r); err != nil {
			return err
		}
	}
	return nil
}

// Sinks returns the names of the sinks that have a queue in the store,
// sorted.
func (s *Store) Sinks() ([]string, error) {
	var names []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if n, ok := strings.CutPrefix(string(name), queuePrefix); ok {
				names = append(names, n)
			}
			return nil
		})
	})
	slices.Sort(names)
	return names, err
}
