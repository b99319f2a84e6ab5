package runtime

import (
	"context"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

func TestPoolSlots(t *testing.T) {
	procs := goruntime.GOMAXPROCS(0)
	for _, size := range []int{1, procs, procs + 3} {
		var p pool
		p.init(size, procs)
		if want := min(size, procs); len(p.slots) != want {
			t.Errorf("pool of %d: %d slots, want %d", size, len(p.slots), want)
		}
		if len(p.tokens) != size || cap(p.idle) != size {
			t.Errorf("pool of %d: %d tokens and idle capacity %d, want %d of each", size, len(p.tokens), cap(p.idle), size)
		}
	}

	var h homes
	h.init()
	for range 3 * procs {
		at := h.pool.New().(*home)
		if at.index < 0 || at.index >= procs {
			t.Fatalf("home index %d, want 0 to %d", at.index, procs-1)
		}
		var p pool
		p.init(1, procs)
		if got := p.slot(at); got != 0 {
			t.Errorf("pool of 1: home %d uses slot %d, want 0", at.index, got)
		}
	}
}

// TestPoolWakesWaiter dispatches from more goroutines than the pool has
// instances. An acquire that waits for a token must be woken when an
// instance is released into a slot rather than to idle.
func TestPoolWakesWaiter(t *testing.T) {
	for _, size := range []int{1, 2} {
		lc := minimalListener(size)
		env := newEnv(t, lc)
		encoded := intake.Encode(testEvent("evt-pool"))
		const workers, perWorker = 8, 400

		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perWorker {
					if err := env.rt.DispatchEncoded(context.Background(), "evt-pool", abi.EventIDTokenIssued, encoded); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("pool of %d: dispatches still waiting for an instance after a minute", size)
		}

		l := env.rt.listener(0)
		if got := l.pool.events(); got != workers*perWorker {
			t.Errorf("pool of %d: %d events counted, want %d", size, got, workers*perWorker)
		}
		if got := l.stats.instances.Load(); got < 1 || got > int64(size) {
			t.Errorf("pool of %d: %d instances, want 1 to %d", size, got, size)
		}
	}
}

func TestDispatchAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	// The bench runtime's sink drops payloads without copying them.
	rt := newBenchRuntime(t, nil, []config.Listener{minimalListener(1)})
	ev := testEvent("evt-allocs")
	encoded := intake.Encode(ev)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		if err := rt.DispatchEncoded(ctx, ev.ID, ev.Type, encoded); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("DispatchEncoded allocates %.1f times per event, want 0", allocs)
	}
}

func TestGenerationDrainsEveryShard(t *testing.T) {
	g := &generation{active: make([]activeShard, 2), drained: make(chan struct{})}
	g.undrained.Store(2)
	first, second := &home{index: 0}, &home{index: 1}
	isDrained := func() bool {
		select {
		case <-g.drained:
			return true
		default:
			return false
		}
	}

	if !g.enter(first) || !g.enter(second) {
		t.Fatal("enter failed before the generation was retired")
	}
	g.stopEntering()
	if g.enter(first) {
		t.Fatal("enter succeeded after stopEntering")
	}
	g.exit(first)
	if isDrained() {
		t.Fatal("drained closed while a dispatch on the second shard was in flight")
	}
	// A failed enter returns the drained first shard to retiredMark
	// again, which must not count that shard twice.
	if g.enter(first) {
		t.Fatal("enter succeeded after stopEntering")
	}
	if isDrained() {
		t.Fatal("drained closed after a failed enter on a drained shard")
	}
	g.exit(second)
	if !isDrained() {
		t.Fatal("drained still open after every dispatch exited")
	}
}
