package runtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	"github.com/tetratelabs/wazero/api"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/internal/cputime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

// compareGuest is one piece of guest work with its native Go equivalent.
type compareGuest struct {
	name   string
	module string
	config []byte
	native func(event []byte, buf []byte) error
}

var compareGuests = []compareGuest{
	{
		name:   "minimal",
		module: guestPath("minimal"),
		native: func(event, buf []byte) error {
			n := copy(buf, event)
			return discardSink{}.Publish(context.Background(), buf[:n])
		},
	},
	{
		name:   "scan",
		module: guestPath("scan"),
		native: func(event, buf []byte) error {
			n := copy(buf, event)
			count := uint32(bytes.Count(buf[:n], []byte{'"'}))
			return discardSink{}.Publish(context.Background(), binary.LittleEndian.AppendUint32(buf[:0], count))
		},
	},
	{
		name:   "claimfilter",
		module: filepath.Join("..", "examples", "claimfilter", "claimfilter.wasm"),
		config: claimfilterConfig,
		native: claimfilterNative,
	},
	{
		// The C build of the same listener (examples/claimfilter/c, WASI
		// reactor, built by scripts/build-guests.sh with clang 14).
		name:   "claimfilter_c",
		module: filepath.Join("..", "examples", "claimfilter", "c", "claimfilter.wasm"),
		config: claimfilterConfig,
		native: claimfilterNative,
	},
}

// claimfilterConfig makes the claimfilter guests emit the sub and iat
// claims.
var claimfilterConfig = []byte(`{"claims":["sub","iat"],"sink":"stdout"}`)

// claimfilterNative is the claimfilter work as a Go function.
func claimfilterNative(event, _ []byte) error {
	var ev struct {
		Claims map[string]json.RawMessage `json:"claims"`
	}
	if err := json.Unmarshal(event, &ev); err != nil {
		return err
	}
	out, err := json.Marshal(map[string]json.RawMessage{"sub": ev.Claims["sub"], "iat": ev.Claims["iat"]})
	if err != nil {
		return err
	}
	return discardSink{}.Publish(context.Background(), out)
}

// BenchmarkCompare runs the same guest work six ways, for the minimal
// guest (read the event, emit it), the scan guest (one loop iteration per
// event byte), and the claimfilter example (JSON parsing) built from Go
// and from C:
//
//   - native: the work as a Go function;
//   - wazero: tw_on_event in a plain wazero runtime with a stand-in host
//     module, export looked up once, CallWithStack, no deadline;
//   - wazero_close_on_done: the same with WithCloseOnContextDone and a
//     context.WithTimeout per call, wazero's own deadline mechanism;
//   - wazero_budget: the same as wazero on the metered module, with the
//     budget global set before each call as the runtime sets it;
//   - tokenwire_unmetered: DispatchEncoded without instruction metering, so
//     no deadline can stop a guest loop;
//   - tokenwire: DispatchEncoded as shipped, budget and deadline on.
//
// Besides wall time, each reports cpu-ns/op: the CPU time of the OS thread
// that ran the loop, per operation, which other processes on a shared
// machine disturb less than wall time.
func BenchmarkCompare(b *testing.B) {
	event := intake.Encode(benchEvent(b))
	ctx := context.Background()
	for _, g := range compareGuests {
		code, err := os.ReadFile(g.module)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(g.name+"/native", func(b *testing.B) {
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(event)))
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if err := g.native(event, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, mode := range []struct {
			name                 string
			closeOnDone, metered bool
		}{
			{"wazero", false, false},
			{"wazero_close_on_done", true, false},
			{"wazero_budget", false, true},
		} {
			b.Run(g.name+"/"+mode.name, func(b *testing.B) {
				mod := instantiateStandIn(b, code, event, g.config, mode.closeOnDone, mode.metered)
				onEvent := mod.ExportedFunction(abi.ExportOnEvent)
				budget, _ := mod.ExportedGlobal("tokenwire_budget").(api.MutableGlobal)
				stack := make([]uint64, 1)
				b.SetBytes(int64(len(event)))
				b.ReportAllocs()
				defer reportCPU(b)()
				for b.Loop() {
					callCtx, cancel := ctx, context.CancelFunc(nil)
					if mode.closeOnDone {
						callCtx, cancel = context.WithTimeout(ctx, config.DefaultDeadline)
					}
					if budget != nil {
						budget.Set(refuelSlice)
					}
					stack[0] = uint64(len(event))
					err := onEvent.CallWithStack(callCtx, stack)
					if cancel != nil {
						cancel()
					}
					if err != nil || stack[0] != 0 {
						b.Fatalf("tw_on_event: %v, returned %d", err, int32(stack[0]))
					}
				}
			})
		}
		for _, metered := range []bool{false, true} {
			name := "tokenwire"
			if !metered {
				name = "tokenwire_unmetered"
			}
			b.Run(g.name+"/"+name, func(b *testing.B) {
				saved := meterModules
				meterModules = metered
				defer func() { meterModules = saved }()
				lc := minimalListener(1)
				lc.Name, lc.Module, lc.ConfigJSON = g.name, g.module, g.config
				lc.Deadline = config.Duration(config.DefaultDeadline)
				rt := newBenchRuntime(b, nil, []config.Listener{lc})
				b.SetBytes(int64(len(event)))
				b.ReportAllocs()
				defer reportCPU(b)()
				for b.Loop() {
					if err := rt.DispatchEncoded(ctx, "bench", abi.EventIDTokenIssued, event); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// reportCPU pins the benchmark goroutine to its OS thread and returns a
// function that reports the thread's CPU time per operation as cpu-ns/op.
// A dispatch to one listener runs on the calling goroutine, so the figure
// covers the guest and the host functions, though not the garbage
// collector's background work.
func reportCPU(b *testing.B) func() {
	goruntime.LockOSThread()
	start := cputime.Thread()
	return func() {
		used := cputime.Thread() - start
		goruntime.UnlockOSThread()
		if start != 0 && b.N > 0 {
			b.ReportMetric(float64(used)/float64(b.N), "cpu-ns/op")
		}
	}
}
