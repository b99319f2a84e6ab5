package fuzz

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
)

// Checker runs single events through a listener and reports the findings
// of each, for go test -fuzz targets (package fuzzguest). It is not safe
// for concurrent use.
type Checker struct {
	t *target
}

// NewChecker starts the listener of spec. A listener that fails to start
// gives a Checker whose Check reports that failure for every event.
func NewChecker(ctx context.Context, spec Spec) (*Checker, error) {
	t, err := newTarget(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &Checker{t: t}, nil
}

// Check runs one event, in intake's JSON form, and returns its findings.
// ran is false when intake rejects the event or the listener is not
// subscribed to its type, so nothing ran.
func (c *Checker) Check(ctx context.Context, event []byte) (findings []Finding, ran bool) {
	if c.t.startErr != nil {
		return []Finding{{Kind: KindInit, Detail: c.t.startErr.Error(), Input: event}}, true
	}
	out := c.t.exec(ctx, event)
	if out.rejected != nil {
		return nil, false
	}
	findings = out.findings[:0]
	for _, f := range out.findings {
		// As in Run, a timeout counts only when it repeats.
		if f.Kind == KindTimeout && !c.t.repeats(ctx, event, f.signature(), timeoutRepeats) {
			continue
		}
		f.Input = event
		findings = append(findings, f)
	}
	return findings, true
}

// Close stops the listener.
func (c *Checker) Close(ctx context.Context) { c.t.close(ctx) }

// EventFromBytes turns arbitrary bytes into an event: the bytes drive the
// generator's choices, so a fuzzing engine that mutates them explores
// events, not byte strings. Bytes that contain one JSON object are taken as
// an event as they are, so real events can seed the engine.
func EventFromBytes(data []byte, maxBytes int) []byte {
	if len(data) > 0 && data[0] == '{' && json.Valid(data) {
		return data
	}
	if maxBytes <= 0 {
		maxBytes = 256 << 10
	}
	g := &generator{rng: rand.New(newByteSource(data)), maxBytes: maxBytes}
	ev := g.event()
	if len(data) > 0 && data[0]&1 == 1 {
		// Mutating a generated event reaches shapes the generator alone
		// does not make, such as a member moved to another place.
		ev = g.mutate(ev)
	}
	return ev.encode(nil)
}

// byteSource yields the bytes as random numbers, 8 at a time, then
// continues with a generator seeded from all of them.
type byteSource struct {
	data []byte
	rest *rand.PCG
}

func newByteSource(data []byte) *byteSource {
	sum := sha256.Sum256(data)
	return &byteSource{data: data, rest: rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:16]))}
}

func (s *byteSource) Uint64() uint64 {
	if len(s.data) == 0 {
		return s.rest.Uint64()
	}
	var b [8]byte
	n := copy(b[:], s.data)
	s.data = s.data[n:]
	// A short tail is mixed with the generator so that it still varies.
	if n < 8 {
		return binary.LittleEndian.Uint64(b[:]) ^ s.rest.Uint64()<<(8*n)
	}
	return binary.LittleEndian.Uint64(b[:])
}
