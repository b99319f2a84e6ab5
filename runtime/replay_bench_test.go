package runtime

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/internal/cputime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

// BenchmarkReplay measures what "tokenwire replay" does per event: decode
// and normalize one line of testdata/events/corpus.ndjson with
// intake.Decoder, then Dispatch it to the minimal guest. Sequential runs
// one decoder; Parallel runs GOMAXPROCS decoders over copies of the
// corpus against one listener with a pool of GOMAXPROCS instances. Each
// reports events/s and cpu-ns/event, the CPU time of the whole process
// (decoders, dispatch and garbage collection) per event.
func BenchmarkReplay(b *testing.B) {
	corpusData, err := os.ReadFile(filepath.Join("..", "testdata", "events", "corpus.ndjson"))
	if err != nil {
		b.Fatal(err)
	}
	// Repeat the corpus so one decoder runs long enough to measure.
	input := bytes.Repeat(corpusData, 100)
	ctx := context.Background()
	opts := intake.Options{DefaultIssuer: testIssuer}

	// replay dispatches every event in input and returns how many there
	// were.
	replay := func(rt *Runtime) (int, error) {
		dec := intake.NewDecoder(bytes.NewReader(input), opts)
		n := 0
		for {
			ev, err := dec.Next()
			if err == io.EOF {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			if err := rt.Dispatch(ctx, ev); err != nil {
				return n, err
			}
			n++
		}
	}
	for _, parallel := range []bool{false, true} {
		name := "Sequential"
		workers := 1
		if parallel {
			name = "Parallel"
			workers = max(2, goruntime.GOMAXPROCS(0))
		}
		b.Run(name, func(b *testing.B) {
			lc := minimalListener(workers)
			lc.Deadline = config.Duration(config.DefaultDeadline)
			rt := newBenchRuntime(b, nil, []config.Listener{lc})
			events := 0
			start := time.Now()
			startCPU := cputime.Process()
			for b.Loop() {
				var wg sync.WaitGroup
				counts := make([]int, workers)
				errs := make([]error, workers)
				for w := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						counts[w], errs[w] = replay(rt)
					}()
				}
				wg.Wait()
				for w := range workers {
					if errs[w] != nil {
						b.Fatal(errs[w])
					}
					events += counts[w]
				}
			}
			b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
			if usedCPU := cputime.Process() - startCPU; usedCPU > 0 {
				b.ReportMetric(float64(usedCPU)/float64(events), "cpu-ns/event")
			}
		})
	}
}
