package server

import (
	"context"
	"sync"
)

// job is one accepted event waiting for dispatch.
type job struct {
	id        string
	eventType string
	encoded   []byte
	seq       uint64 // journal sequence; 0 when not journaled
}

// queue is a bounded FIFO of accepted events. A batch is admitted whole or
// not at all, so a request never gets a partial 202.
type queue struct {
	mu       sync.Mutex
	notEmpty *sync.Cond
	jobs     []job
	capacity int
	closed   bool
	active   int // jobs popped and not yet done
	idle     *sync.Cond
}

func newQueue(capacity int) *queue {
	q := &queue{capacity: capacity}
	q.notEmpty = sync.NewCond(&q.mu)
	q.idle = sync.NewCond(&q.mu)
	return q
}

// push admits every job or none; it returns false when they do not fit or
// the queue is closed.
func (q *queue) push(jobs []job) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || len(q.jobs)+len(jobs) > q.capacity {
		return false
	}
	q.jobs = append(q.jobs, jobs...)
	q.notEmpty.Broadcast()
	return true
}

// pop waits for a job; it returns false once the queue is closed and empty.
func (q *queue) pop() (job, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.jobs) == 0 && !q.closed {
		q.notEmpty.Wait()
	}
	if len(q.jobs) == 0 {
		return job{}, false
	}
	j := q.jobs[0]
	q.jobs[0] = job{}
	q.jobs = q.jobs[1:]
	q.active++
	return j, true
}

// done marks a popped job finished.
func (q *queue) done() {
	q.mu.Lock()
	q.active--
	if q.active == 0 && len(q.jobs) == 0 {
		q.idle.Broadcast()
	}
	q.mu.Unlock()
}

// close stops admitting jobs; workers finish what is queued.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.notEmpty.Broadcast()
	q.mu.Unlock()
}

// wait blocks until every admitted job is done or ctx ends, and returns how
// many jobs were still pending.
func (q *queue) wait(ctx context.Context) int {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.idle.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for (q.active > 0 || len(q.jobs) > 0) && ctx.Err() == nil {
		q.idle.Wait()
	}
	return q.active + len(q.jobs)
}

// length returns the number of jobs waiting.
func (q *queue) length() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.jobs)
}
