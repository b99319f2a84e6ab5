package sink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// Rotation starts a new file when the current one is too big or too old.
// The full file is renamed to path.<UTC time> and a new one opened at path.
// Zero fields mean no limit.
type Rotation struct {
	// MaxBytes rotates before a write that would take the file past it.
	MaxBytes int64
	// MaxAge rotates at the first write after the file has been open
	// this long.
	MaxAge time.Duration
	// Keep is how many rotated files to keep; older ones are deleted.
	// Zero keeps all.
	Keep int
}

// rotatedLayout is the time suffix of a rotated file.
const rotatedLayout = "20060102T150405.000000000Z"

// File appends each payload as one line to a file.
type File struct {
	mu     sync.Mutex
	f      *os.File
	lines  *Lines
	policy FsyncPolicy
	rot    Rotation
	path   string
	size   int64
	opened time.Time
	dirty  bool
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

// OpenFile opens path for appending, creating it with mode 0600 if needed.
// For FsyncInterval, a background goroutine syncs every interval.
func OpenFile(path string, policy FsyncPolicy, interval time.Duration) (*File, error) {
	return OpenRotatingFile(path, policy, interval, Rotation{})
}

// OpenRotatingFile is OpenFile with rotation by size and age.
func OpenRotatingFile(path string, policy FsyncPolicy, interval time.Duration, rot Rotation) (*File, error) {
	s := &File{policy: policy, rot: rot, path: path}
	if err := s.unsyncedOpen(); err != nil {
		return nil, err
	}
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
	if s.unsyncedDue(int64(len(payload)) + 1) {
		if err := s.unsyncedRotate(); err != nil {
			return fmt.Errorf("%w: rotate %s: %v", ErrUnavailable, s.path, err)
		}
	}
	if err := s.lines.Publish(ctx, payload); err != nil {
		if errors.Is(err, ErrInvalidPayload) {
			return err
		}
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, s.f.Name(), err)
	}
	s.dirty = true
	s.size += int64(len(payload)) + 1
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

// unsyncedOpen opens s.path for appending. The caller holds mu or owns s.
func (s *File) unsyncedOpen() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open file sink: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open file sink: %w", err)
	}
	s.f, s.lines, s.size, s.opened = f, NewLines(f), info.Size(), time.Now()
	return nil
}

// unsyncedDue reports whether a write of n bytes must go to a new file.
// The caller holds mu.
func (s *File) unsyncedDue(n int64) bool {
	if s.size == 0 {
		return false
	}
	return (s.rot.MaxBytes > 0 && s.size+n > s.rot.MaxBytes) ||
		(s.rot.MaxAge > 0 && time.Since(s.opened) >= s.rot.MaxAge)
}

// unsyncedRotate syncs and closes the current file, renames it with the
// time, opens a new one and deletes rotated files past Keep. The caller
// holds mu.
func (s *File) unsyncedRotate() error {
	if s.policy != FsyncNever {
		if err := s.unsyncedFlush(); err != nil {
			return err
		}
	}
	if err := s.f.Close(); err != nil {
		return err
	}
	rotated := s.path + "." + time.Now().UTC().Format(rotatedLayout)
	if err := os.Rename(s.path, rotated); err != nil {
		// Keep writing to the same file rather than lose payloads.
		if openErr := s.unsyncedOpen(); openErr != nil {
			return openErr
		}
		return err
	}
	if err := s.unsyncedOpen(); err != nil {
		return err
	}
	s.dirty = false
	if s.rot.Keep > 0 {
		matches, _ := filepath.Glob(s.path + ".*")
		var old []string
		for _, m := range matches {
			if _, err := time.Parse(rotatedLayout, m[len(s.path)+1:]); err == nil {
				old = append(old, m)
			}
		}
		slices.Sort(old) // the UTC time stamps sort in time order
		for len(old) > s.rot.Keep {
			_ = os.Remove(old[0])
			old = old[1:]
		}
	}
	return nil
}
