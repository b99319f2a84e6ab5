package outbox

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
)

// BenchmarkEnqueue measures payloads made durable per second: each
// Enqueue returns after its group commit is on disk (fsync), with 1 to 256
// goroutines emitting at once. ns/op is per payload across all writers.
func BenchmarkEnqueue(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 512)
	for _, c := range []struct {
		writers int
		noSync  bool
	}{{1, false}, {16, false}, {64, false}, {256, false}, {64, true}} {
		name := fmt.Sprintf("writers=%d", c.writers)
		if c.noSync {
			name += "/nosync"
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "outbox.db"), Options{NoSync: c.noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			q, err := s.Queue("bench", Limits{})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(payload)))
			b.SetParallelism(max(1, c.writers/max(1, testingProcs())))
			b.ResetTimer()
			if c.writers == 1 {
				for range b.N {
					if _, err := q.Enqueue(payload); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := q.Enqueue(payload); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
