package sink

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLinesPublish(t *testing.T) {
	var out bytes.Buffer
	s := NewLines(&out)
	ctx := context.Background()
	for _, p := range []string{`{"a":1}`, "second", ""} {
		if err := s.Publish(ctx, []byte(p)); err != nil {
			t.Fatalf("Publish(%q): %v", p, err)
		}
	}
	if got, want := out.String(), "{\"a\":1}\nsecond\n\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}

func TestLinesRejectsLineBreak(t *testing.T) {
	var out bytes.Buffer
	s := NewLines(&out)
	for _, p := range []string{"a\nb", "a\rb"} {
		err := s.Publish(context.Background(), []byte(p))
		if !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("Publish(%q) = %v, want ErrInvalidPayload", p, err)
		}
	}
	if out.Len() != 0 {
		t.Errorf("rejected payloads were written: %q", out.String())
	}
}

func TestLinesClosed(t *testing.T) {
	s := NewLines(&bytes.Buffer{})
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(context.Background(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

func TestFileAppendsWholeLines(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(string(policy), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.ndjson")
			if err := os.WriteFile(path, []byte("existing\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := OpenFile(path, policy, 10*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					payload := bytes.Repeat([]byte{byte('a' + i)}, 1000)
					for range 50 {
						if err := s.Publish(context.Background(), payload); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			if len(lines) != 1+8*50 {
				t.Fatalf("file has %d lines, want %d", len(lines), 1+8*50)
			}
			if lines[0] != "existing" {
				t.Errorf("first line = %q, want the existing content kept", lines[0])
			}
			for i, line := range lines[1:] {
				if len(line) != 1000 || strings.Count(line, line[:1]) != 1000 {
					t.Fatalf("line %d is interleaved or cut: %.40q", i+2, line)
				}
			}
		})
	}
}

func TestOpenFileError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "out.ndjson")
	_, err := OpenFile(path, FsyncNever, 0)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("OpenFile error = %v, want one naming %s", err, path)
	}
}

func TestFileRotation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rot   Rotation
		pause time.Duration
	}{
		{"size", Rotation{MaxBytes: 100, Keep: 3}, 0},
		{"age", Rotation{MaxAge: 20 * time.Millisecond, Keep: 3}, 25 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.ndjson")
			if err := os.WriteFile(path+".keep", []byte("unrelated"), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := OpenRotatingFile(path, FsyncAlways, 0, tc.rot)
			if err != nil {
				t.Fatal(err)
			}
			payload := bytes.Repeat([]byte("x"), 39) // 40 bytes a line
			for range 10 {
				if err := s.Publish(context.Background(), payload); err != nil {
					t.Fatal(err)
				}
				time.Sleep(tc.pause)
			}
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			rotated, _ := filepath.Glob(path + ".2*")
			if len(rotated) != 3 {
				t.Errorf("%d rotated files, want the 3 kept", len(rotated))
			}
			lines := 0
			for _, f := range append(rotated, path) {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if tc.rot.MaxBytes > 0 && int64(len(data)) > tc.rot.MaxBytes {
					t.Errorf("%s has %d bytes, over max %d", f, len(data), tc.rot.MaxBytes)
				}
				lines += bytes.Count(data, []byte("\n"))
			}
			if want := map[string]int{"size": 8, "age": 4}[tc.name]; lines != want {
				t.Errorf("%d lines kept in all, want %d", lines, want)
			}
			if _, err := os.Stat(path + ".keep"); err != nil {
				t.Errorf("an unrelated file was deleted: %v", err)
			}
		})
	}
}
