// Package outbox is the durable queue between emit and the sinks.
//
// A Store is one bbolt file that contains a queue per sink, a dead-letter
// queue per sink and the intake journal. Every write goes through one
// committer goroutine, which puts all writes waiting at that moment into one
// bbolt transaction (group commit). One fsync then covers many payloads, so
// throughput grows with concurrency instead of falling to one payload per
// disk flush.
//
// The guarantee is at-least-once: a payload is in the file before Enqueue
// returns, and it leaves the queue only after its sink has confirmed it. A
// crash between a sink's confirmation and the removal delivers the payload
// again, so receivers deduplicate by the event id or the SET's jti.
package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Errors callers branch on.
var (
	// ErrFull means the queue is at its configured maximum, so the
	// payload was not queued.
	ErrFull = errors.New("outbox queue full")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("outbox closed")
	// ErrLocked means another process has the store file open.
	ErrLocked = errors.New("outbox file is in use by another process")
)

// DefaultMaxBatch is the maximum number of writes in one transaction.
const DefaultMaxBatch = 4096

// Options tune a Store.
type Options struct {
	// MaxBatch bounds the writes one transaction commits. Default
	// DefaultMaxBatch.
	MaxBatch int
	// NoSync skips fsync; for benchmarks comparing the cost only.
	NoSync bool
	// LockTimeout bounds the wait for another process's lock on the file.
	// Default 1s.
	LockTimeout time.Duration
}

// Store is an open outbox file.
type Store struct {
	db       *bolt.DB
	maxBatch int
	writes   chan *write
	stop     chan struct{}
	done     chan struct{}

	sending sync.RWMutex
	closed  bool // guarded by sending

	mu     sync.Mutex
	queues map[string]*Queue
}

// write is one unit of a group commit.
type write struct {
	apply func(tx *bolt.Tx) error
	done  chan error
}

// Open opens or creates the store at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, NoSync: opts.NoSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open outbox %s: %w: stop the tokenwire process using it first", path, ErrLocked)
		}
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	s := &Store{
		db:       db,
		maxBatch: opts.MaxBatch,
		writes:   make(chan *write, opts.MaxBatch),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		queues:   map[string]*Queue{},
	}
	go s.commitLoop()
	return s, nil
}

// Path returns the store's file name.
func (s *Store) Path() string { return s.db.Path() }

// commitLoop applies writes in batches: it waits for one, takes every
// other write already waiting, up to maxBatch, and commits them in one
// transaction.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*write, 0, s.maxBatch)
	for {
		var first *write
		select {
		case first = <-s.writes:
		case <-s.stop:
			// No send can follow closed; commit what was sent before.
			for {
				select {
				case w := <-s.writes:
					s.commit([]*write{w})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.maxBatch {
			select {
			case w := <-s.writes:
				batch = append(batch, w)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// commit runs batch in one transaction. A write whose apply fails is left
// out and the batch is retried without it, so that write does not fail the
// others. An error committing the transaction fails every write of it.
func (s *Store) commit(batch []*write) {
	errs := make([]error, len(batch))
	for {
		failed := -1
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, w := range batch {
				if errs[i] != nil {
					continue
				}
				if err := w.apply(tx); err != nil {
					errs[i] = err
					failed = i
					return err
				}
			}
			return nil
		})
		if err != nil && failed >= 0 {
			continue // retry without the failing write
		}
		for i, w := range batch {
			if errs[i] == nil {
				errs[i] = err
			}
			w.done <- errs[i]
		}
		return
	}
}

// update runs apply inside a group commit and waits until it is on disk.
func (s *Store) update(apply func(tx *bolt.Tx) error) error {
	w := &write{apply: apply, done: make(chan error, 1)}
	// The read lock keeps Close from stopping the loop while a send waits.
	s.sending.RLock()
	if s.closed {
		s.sending.RUnlock()
		return ErrClosed
	}
	s.writes <- w
	s.sending.RUnlock()
	return <-w.done
}

// Close waits for writes in progress and closes the file.
func (s *Store) Close() error {
	s.sending.Lock()
	if s.closed {
		s.sending.Unlock()
		return nil
	}
	s.closed = true
	s.sending.Unlock()
	close(s.stop)
	<-s.done
	return s.db.Close()
}

// Record is one queued payload.
type Record struct {
	// Seq orders records in their queue and identifies them.
	Seq uint64
	// Attempts is how many delivery attempts failed so far.
	Attempts int
	// Enqueued is when the payload was first queued.
	Enqueued time.Time
	// Payload is the data as emitted.
	Payload []byte
	// Reason is the error that moved the record to the dead letters. It is
	// empty for a record still in its queue.
	Reason string
}

// Record value layout: attempts uint32, enqueued unix nanoseconds int64,
// reason length uint32, reason, payload.
const recordHeader = 4 + 8 + 4

func encodeRecord(r Record) []byte {
	b := make([]byte, recordHeader+len(r.Reason)+len(r.Payload))
	binary.BigEndian.PutUint32(b, uint32(r.Attempts))
	binary.BigEndian.PutUint64(b[4:], uint64(r.Enqueued.UnixNano()))
	binary.BigEndian.PutUint32(b[12:], uint32(len(r.Reason)))
	copy(b[recordHeader:], r.Reason)
	copy(b[recordHeader+len(r.Reason):], r.Payload)
	return b
}

func decodeRecord(key, v []byte) (Record, error) {
	if len(key) != 8 || len(v) < recordHeader {
		return Record{}, fmt.Errorf("outbox record %x is corrupt: %d bytes", key, len(v))
	}
	n := int(binary.BigEndian.Uint32(v[12:]))
	if len(v) < recordHeader+n {
		return Record{}, fmt.Errorf("outbox record %x is corrupt: reason length %d", key, n)
	}
	return Record{
		Seq:      binary.BigEndian.Uint64(key),
		Attempts: int(binary.BigEndian.Uint32(v)),
		Enqueued: time.Unix(0, int64(binary.BigEndian.Uint64(v[4:]))),
		Reason:   string(v[recordHeader : recordHeader+n]),
		// Copied: bbolt's memory is valid only inside the transaction.
		Payload: append([]byte(nil), v[recordHeader+n:]...),
	}, nil
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}
