package runtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/tokenwire/tokenwire/abi"
)

// hostCallArgs are argument values on the edges of the probe's one page of
// memory. The fuzzer's bytes pick among them or give their own.
var hostCallArgs = []uint32{0, 1, 6, 1024, 1040, 2048, 4096, probeMemorySize - 1, probeMemorySize, probeMemorySize + 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFF}

// FuzzHostCalls calls the host functions through the probe guest with
// pointers, lengths and levels taken from the fuzzer's bytes, with a
// fuzzer-chosen current event. Every call must return without a trap or a
// host panic. A pair outside memory must give INVALID_MEMORY, and any other
// result must be a length or a status of the ABI. A call may change guest
// memory only inside the buffer it was given.
func FuzzHostCalls(f *testing.F) {
	f.Add([]byte{0, 3, 4, 1, 0}, []byte(`{"id":"1"}`))
	f.Add([]byte{6, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 1, 2}, []byte{})
	f.Add([]byte{4, 5, 6, 0xFF, 0xFF, 0xFF, 0xFF, 3, 9, 9, 2, 7, 1, 8}, []byte("{}"))
	f.Add([]byte("\x02\x01\x02\x03\x05\x04\x05\x06\x07\x00\x01"), []byte(strings.Repeat("x", 5000)))

	lc := listenerFor("probe", "probe")
	lc.ConfigJSON = []byte(`{"fuzz":true}`)
	env := newEnv(f, lc)
	l := env.rt.listener(0)
	inst, err := l.acquire(context.Background(), &home{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.release(context.Background(), &home{}, inst) })

	f.Fuzz(func(t *testing.T, script, event []byte) {
		inst.begin(event)
		defer inst.end()
		mem := inst.mod.Memory()
		for calls := 0; len(script) > 0 && calls < 64; calls++ {
			fn := abi.HostFuncs[int(script[0])%len(abi.HostFuncs)]
			script = script[1:]
			args := make([]uint32, fn.Params)
			for i := range args {
				args[i], script = hostCallArg(script)
			}
			before, _ := mem.Read(0, mem.Size())
			before = bytes.Clone(before)

			got := (&probe{t: t, inst: inst}).call(fn.Name, args...)

			after, _ := mem.Read(0, mem.Size())
			checkHostCall(t, fn.Name, args, got, before, after)
		}
		if logs := env.logs.String(); strings.Contains(logs, "host function panicked") {
			t.Fatalf("a host function panicked:\n%s", logs)
		}
		// Keep the buffers small over a long run.
		for _, b := range []*logBuffer{env.logs, &env.out.buf, &env.other.buf} {
			b.mu.Lock()
			b.buf.Reset()
			b.mu.Unlock()
		}
	})
}

// hostCallArg takes one argument from script: a byte below 128 picks a
// value from hostCallArgs, any other byte is followed by a little-endian
// uint32.
func hostCallArg(script []byte) (uint32, []byte) {
	if len(script) == 0 {
		return 0, nil
	}
	b := script[0]
	script = script[1:]
	if b < 128 {
		return hostCallArgs[int(b)%len(hostCallArgs)], script
	}
	var buf [4]byte
	n := copy(buf[:], script)
	return binary.LittleEndian.Uint32(buf[:]), script[n:]
}

// checkHostCall checks one call's result and its effect on memory.
func checkHostCall(t *testing.T, fn string, args []uint32, got int32, before, after []byte) {
	t.Helper()
	inside := func(ptr, n uint32) bool { return uint64(ptr)+uint64(n) <= uint64(len(before)) }
	var regions [][2]uint32 // (pointer, length) pairs the function takes
	switch fn {
	case abi.FuncLog:
		regions = [][2]uint32{{args[1], args[2]}}
	case abi.FuncEmit:
		regions = [][2]uint32{{args[0], args[1]}, {args[2], args[3]}}
	default:
		regions = [][2]uint32{{args[0], args[1]}}
	}
	for _, r := range regions {
		if !inside(r[0], r[1]) {
			if abi.Status(got) != abi.StatusInvalidMemory {
				t.Fatalf("%s%v = %d, want INVALID_MEMORY for the region (%d, %d)", fn, args, got, r[0], r[1])
			}
			if !bytes.Equal(before, after) {
				t.Fatalf("%s%v returned INVALID_MEMORY and changed guest memory", fn, args)
			}
			return
		}
	}
	if got < 0 && (got < int32(abi.StatusInternal) || abi.Status(got) == abi.StatusInvalidMemory) {
		t.Fatalf("%s%v = %d: not a status of the ABI for regions inside memory", fn, args, got)
	}
	// Only the read functions write, and only into their buffer.
	lo, hi := 0, 0
	switch fn {
	case abi.FuncEventRead, abi.FuncConfigRead, abi.FuncResultRead:
		if got >= 0 {
			lo = int(args[0])
			hi = lo + min(int(args[1]), int(got))
		}
	}
	if !bytes.Equal(before[:lo], after[:lo]) || !bytes.Equal(before[hi:], after[hi:]) {
		t.Fatalf("%s%v = %d changed guest memory outside [%d, %d)", fn, args, got, lo, hi)
	}
}
