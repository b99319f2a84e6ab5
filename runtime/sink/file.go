package sink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// FsyncPolicy is when a File sink calls fsync.
type FsyncPolicy string

// Fsync policies.
const (
	// FsyncAlways syncs after every payload: nothing accepted is lost on a
	// power failure, at the cost of one disk flush per payload.
	FsyncAlways FsyncPolicy = "always"
	// FsyncInterval syncs at a fixed interval and on Close. A power failure
	// loses at most one interval of payloads. A process crash loses none,
	// because every payload is written to the kernel before Publish returns.
	FsyncInterval FsyncPolicy = "interval"
	// FsyncNever leaves flushing to the operating system.
	FsyncNever FsyncPolicy = "never"
)

// File appends each payload as one line to a file.
type File struct {
	mu     sync.Mutex
	f      *os.File
	lines  *Lines
	policy FsyncPolicy
	dirty  bool
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

// OpenFile opens path for appending, creating it with mode 0600 if needed.
// For FsyncInterval, a background goroutine syncs every interval.
func OpenFile(path string, policy FsyncPolicy, interval time.Duration) (*File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open file sink: %w", err)
	}
	s := &File{f: f, lines: NewLines(f), policy: policy}
	if policy == FsyncInterval {
		if interval <= 0 {
			interval = time.Second
		}
		s.stop = make(chan struct{})
		s.done = make(chan struct{})
		go s.syncEvery(interval)
	}
	return s, nil
}

// Publish appends payload and a newline with one write call, and syncs
// under FsyncAlways.
func (s *File) Publish(ctx context.Context, payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.lines.Publish(ctx, payload); err != nil {
		if errors.Is(err, ErrInvalidPayload) {
			return err
		}
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, s.f.Name(), err)
	}
	s.dirty = true
	if s.policy == FsyncAlways {
		return s.unsyncedFlush()
	}
	return nil
}

func (s *File) syncEvery(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			_ = s.unsyncedFlush()
			s.mu.Unlock()
		}
	}
}

// unsyncedFlush syncs the file if anything was written. The caller holds mu.
func (s *File) unsyncedFlush() error {
	if !s.dirty {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("%w: sync %s: %v", ErrUnavailable, s.f.Name(), err)
	}
	s.dirty = false
	return nil
}

// Close syncs, unless the policy is FsyncNever, and closes the file.
func (s *File) Close(context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	var syncErr error
	if s.policy != FsyncNever {
		syncErr = s.unsyncedFlush()
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.f.Name(), err)
	}
	return syncErr
}
