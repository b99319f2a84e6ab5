package runtime

import (
	"context"
	goruntime "runtime"
	"sync"
	"sync/atomic"
)

// homes hands each dispatch the index of the P (the Go scheduler's
// processor, one per CPU that runs Go code) it runs on, so per-CPU state
// can live in per-P shards. sync.Pool keeps one private value per P, so a
// goroutine usually gets back what the last dispatch on its P put there.
// A goroutine that moves to another P during a dispatch puts the value
// back there. The two Ps then share shards for a while, which costs speed
// but not correctness.
type homes struct {
	pool sync.Pool
	next atomic.Uint32
	n    int // GOMAXPROCS when the runtime started
}

// home is the shard index of one dispatch, in [0, n).
type home struct{ index int }

func (h *homes) init() {
	h.n = goruntime.GOMAXPROCS(0)
	h.pool.New = func() any {
		return &home{index: int(h.next.Add(1)-1) % h.n}
	}
}

// get returns the index for a dispatch on the current P. The caller hands
// it back with put.
func (h *homes) get() *home { return h.pool.Get().(*home) }

func (h *homes) put(x *home) { h.pool.Put(x) }

// pool holds a listener's instances. An idle instance waits in the slot of
// the P that last released it, so dispatches running on different CPUs
// take and return instances without writing to shared memory. Instances
// beyond the slots wait in a channel.
type pool struct {
	// slots keeps one slot per P, up to the pool size. Each slot is on its
	// own cache lines. A dispatch uses slot home.index % len(slots).
	slots []poolSlot

	// tokens holds one token per instance that may still be created or
	// taken from idle. An instance holds its token while it runs an event
	// or sits in a slot, and gives it back when it moves to idle or closes.
	tokens chan struct{}
	idle   chan *instance
	// waiting counts acquires that found their home slot empty. While it
	// is above zero, release moves instances on to idle, so an acquire
	// that waits for a token is not left waiting while instances sit in
	// slots.
	waiting atomic.Int32
}

// shardPadding pads a per-P shard of two 8-byte words to 128 bytes, which
// keeps neighbouring shards off each other's cache lines, including the
// pair of lines some CPUs prefetch together.
const shardPadding = 128 - 16

// poolSlot is one P's idle instance and event counter.
type poolSlot struct {
	inst   atomic.Pointer[instance]
	events atomic.Int64
	_      [shardPadding]byte
}

// init sizes the pool for size instances, all of them still to be created,
// with a slot for each of procs Ps up to size.
func (p *pool) init(size, procs int) {
	p.slots = make([]poolSlot, max(1, min(size, procs)))
	p.tokens = make(chan struct{}, size)
	p.idle = make(chan *instance, size)
	for range size {
		p.tokens <- struct{}{}
	}
}

// slot returns the index of the slot for a dispatch at home.
func (p *pool) slot(at *home) int { return at.index % len(p.slots) }

// take removes and returns the idle instance of slot i, or nil. It reads
// before it writes, so a dispatch that finds the slot empty leaves the
// slot's cache line shared.
func (p *pool) take(i int) *instance {
	s := &p.slots[i].inst
	if s.Load() == nil {
		return nil
	}
	return s.Swap(nil)
}

// park puts inst into slot i and reports whether the slot was empty.
func (p *pool) park(i int, inst *instance) bool {
	s := &p.slots[i].inst
	return s.Load() == nil && s.CompareAndSwap(nil, inst)
}

// events returns how many events the listener was given, summed over slots.
func (p *pool) events() int64 {
	var n int64
	for i := range p.slots {
		n += p.slots[i].events.Load()
	}
	return n
}

// acquire returns an idle instance or creates one, waiting while the pool
// is at its size. It looks in the slot of at first, then in the others.
func (l *listener) acquire(ctx context.Context, at *home) (*instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, &CallError{Kind: FailCanceled, Func: "acquire", Message: err.Error()}
	}
	p := &l.pool
	if inst := p.take(p.slot(at)); inst != nil {
		return inst, nil
	}
	// Counting in before looking at the other slots pairs with release,
	// which parks before it reads waiting. So either this scan finds the
	// parked instance, or release reads the count and moves it to idle.
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	for i := range p.slots {
		if inst := p.take(i); inst != nil {
			return inst, nil
		}
	}

	select {
	case <-p.tokens:
	case <-ctx.Done():
		return nil, &CallError{Kind: FailCanceled, Func: "acquire", Message: ctx.Err().Error()}
	}
	if l.closing.Load() {
		p.tokens <- struct{}{}
		return nil, &CallError{Kind: FailCanceled, Func: "acquire", Message: "listener closed"}
	}

	select {
	case inst := <-p.idle:
		return inst, nil
	default:
	}
	inst, err := l.newInstance(ctx)
	if err != nil {
		p.tokens <- struct{}{}
		return nil, err
	}
	l.stats.instances.Add(1)
	return inst, nil
}

// release returns a healthy instance to the slot of at, or to idle when
// that slot is taken. It discards an instance wazero closed: a deadline
// can fire just as a call returns.
func (l *listener) release(ctx context.Context, at *home, inst *instance) {
	if inst.mod.IsClosed() {
		l.discard(ctx, inst)
		return
	}
	if l.pool.park(l.pool.slot(at), inst) {
		// close empties the slots after setting closing, and an acquire
		// that may wait counts itself in before it looks at the slots. If
		// either has begun, the instance moves on to idle.
		if l.closing.Load() || l.pool.waiting.Load() > 0 {
			l.unpark()
		}
		return
	}
	l.pool.idle <- inst
	l.pool.tokens <- struct{}{}
}

// unpark moves every instance in a slot to idle.
func (l *listener) unpark() {
	p := &l.pool
	for i := range p.slots {
		if inst := p.slots[i].inst.Swap(nil); inst != nil {
			p.idle <- inst
			p.tokens <- struct{}{}
		}
	}
}

// discard closes an instance that failed; it is never reused.
func (l *listener) discard(ctx context.Context, inst *instance) {
	inst.close(ctx)
	l.stats.instances.Add(-1)
	l.pool.tokens <- struct{}{}
}
