package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/runtime/signer"
	"github.com/tokenwire/tokenwire/runtime/sink"
)

// Host functions of ABI v1. Each reads its i32 arguments from the stack and
// writes one i32 result back. A bad pointer or length returns INVALID_MEMORY
// before any other check, and wrapHost turns a panic into INTERNAL, so no
// host function traps the guest or the host.

// hostFunc is the body of a host function: it returns a non-negative value
// or an abi.Status.
type hostFunc func(inst *instance, mem api.Memory, args []uint64) int32

// instantiateHost registers the "tokenwire" host module in rt.
func instantiateHost(ctx context.Context, rt wazero.Runtime) error {
	funcs := map[string]hostFunc{
		abi.FuncEventRead:  hostEventRead,
		abi.FuncConfigRead: hostConfigRead,
		abi.FuncLog:        hostLog,
		abi.FuncSetError:   hostSetError,
		abi.FuncSign:       hostSign,
		abi.FuncResultRead: hostResultRead,
		abi.FuncEmit:       hostEmit,
	}
	builder := rt.NewHostModuleBuilder(abi.ImportModule)
	for _, f := range abi.HostFuncs {
		params := make([]api.ValueType, f.Params)
		for i := range params {
			params[i] = api.ValueTypeI32
		}
		builder.NewFunctionBuilder().
			WithGoModuleFunction(wrapHost(f.Name, funcs[f.Name]), params, []api.ValueType{api.ValueTypeI32}).
			Export(f.Name)
	}
	if _, err := builder.Instantiate(ctx); err != nil {
		return err
	}
	return instantiateRefuel(ctx, rt)
}

// instantiateWASI registers WASI preview 1 with random_get replaced by
// wasiRandomGet, which charges the bytes it writes to the call's budget.
// The other WASI functions have no preopened directories and an empty
// stdin to work on, and what fd_write writes counts against the log
// budgets.
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	builder := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(builder)
	builder.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(wasiRandomGet), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).
		WithParameterNames("buf", "buf_len").
		Export("random_get")
	_, err := builder.Instantiate(ctx)
	return err
}

// WASI errno values that wasiRandomGet returns.
const (
	wasiErrnoFault = 21 // buf lies outside guest memory
	wasiErrnoIO    = 29 // the host's random source failed
)

// wasiRandomGet implements WASI random_get(buf, buf_len) -> errno with
// crypto/rand, after charging buf_len to the call's budget.
func wasiRandomGet(ctx context.Context, mod api.Module, stack []uint64) {
	buf, ok := guestBytes(mod.Memory(), stack[0], stack[1])
	if !ok {
		stack[0] = wasiErrnoFault
		return
	}
	if inst := instanceFrom(ctx); inst != nil {
		inst.budget.chargeBytes(mod, len(buf))
	}
	if _, err := io.ReadFull(rand.Reader, buf); err != nil {
		stack[0] = wasiErrnoIO
		return
	}
	stack[0] = 0
}

// wrapHost adapts fn to wazero, finding the calling instance in ctx and
// turning a panic into INTERNAL.
func wrapHost(name string, fn hostFunc) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		inst := instanceFrom(ctx)
		if inst == nil {
			stack[0] = api.EncodeI32(int32(abi.StatusInternal))
			return
		}
		defer func() {
			if r := recover(); r != nil {
				// chargeBytes ends a call whose budget or deadline ran
				// out the way refuel does, by panicking with the reason.
				if stop, ok := r.(*CallError); ok && stop == inst.budget.stop {
					panic(r)
				}
				inst.l.logger.Error("host function panicked", "function", name, "panic", fmt.Sprint(r))
				stack[0] = api.EncodeI32(int32(abi.StatusInternal))
			}
		}()
		stack[0] = api.EncodeI32(fn(inst, mod.Memory(), stack))
	}
}

// guestBytes returns the guest memory region [ptr, ptr+length) as a slice
// that aliases guest memory, or false when it does not lie wholly inside.
func guestBytes(mem api.Memory, ptr, length uint64) ([]byte, bool) {
	if mem == nil {
		return nil, false
	}
	return mem.Read(api.DecodeU32(ptr), api.DecodeU32(length))
}

// copyOut charges the copy to the call's budget, copies min(len(buf),
// len(src)) bytes of src into buf and returns len(src), the total the
// guest needs.
func (inst *instance) copyOut(buf, src []byte) int32 {
	inst.budget.chargeBytes(inst.mod, min(len(buf), len(src)))
	copy(buf, src)
	return int32(len(src))
}

// hostEventRead implements event_read(buf_ptr, buf_len) -> total.
// Statuses: INVALID_MEMORY, NOT_FOUND outside tw_on_event.
func hostEventRead(inst *instance, mem api.Memory, args []uint64) int32 {
	buf, ok := guestBytes(mem, args[0], args[1])
	if !ok {
		return int32(abi.StatusInvalidMemory)
	}
	if inst.event == nil {
		return int32(abi.StatusNotFound)
	}
	return inst.copyOut(buf, inst.event)
}

// hostConfigRead implements config_read(buf_ptr, buf_len) -> total.
// Statuses: INVALID_MEMORY.
func hostConfigRead(inst *instance, mem api.Memory, args []uint64) int32 {
	buf, ok := guestBytes(mem, args[0], args[1])
	if !ok {
		return int32(abi.StatusInvalidMemory)
	}
	return inst.copyOut(buf, inst.l.cfg.ConfigJSON)
}

// hostResultRead implements result_read(buf_ptr, buf_len) -> total.
// Statuses: INVALID_MEMORY, NOT_FOUND when no sign call produced a result
// in this call.
func hostResultRead(inst *instance, mem api.Memory, args []uint64) int32 {
	buf, ok := guestBytes(mem, args[0], args[1])
	if !ok {
		return int32(abi.StatusInvalidMemory)
	}
	if inst.result == nil {
		return int32(abi.StatusNotFound)
	}
	return inst.copyOut(buf, inst.result)
}

var logLevels = [...]slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

// hostLog implements log(level, msg_ptr, msg_len) -> 0.
// Statuses: INVALID_MEMORY, INVALID_ARGUMENT for a level outside 0-3,
// TOO_LARGE over the log_bytes budget, LIMIT_EXCEEDED over log_lines.
func hostLog(inst *instance, mem api.Memory, args []uint64) int32 {
	msg, ok := guestBytes(mem, args[1], args[2])
	if !ok {
		return int32(abi.StatusInvalidMemory)
	}
	level := api.DecodeI32(args[0])
	if level < abi.LogDebug || level > abi.LogError {
		return int32(abi.StatusInvalidArgument)
	}
	if len(msg) > int(inst.l.cfg.Budgets.LogBytes) {
		return int32(abi.StatusTooLarge)
	}
	if !inst.takeLogLine() {
		return int32(abi.StatusLimitExceeded)
	}
	inst.l.logger.Log(context.Background(), logLevels[level], string(msg), "source", "log")
	return 0
}

// takeLogLine spends one line of the per-call log budget, counting the
// line as dropped when the budget is used up.
func (inst *instance) takeLogLine() bool {
	if inst.logLines >= inst.l.cfg.Budgets.LogLines {
		inst.dropped++
		return false
	}
	inst.logLines++
	return true
}

// hostSetError implements set_error(msg_ptr, msg_len) -> 0. A message longer
// than the log_bytes budget is cut to it. Statuses: INVALID_MEMORY.
func hostSetError(inst *instance, mem api.Memory, args []uint64) int32 {
	msg, ok := guestBytes(mem, args[0], args[1])
	if !ok {
		return int32(abi.StatusInvalidMemory)
	}
	if limit := int(inst.l.cfg.Budgets.LogBytes); len(msg) > limit {
		// Cut at a rune boundary, so a valid UTF-8 message stays valid.
		for limit > 0 && !utf8.RuneStart(msg[limit]) {
			limit--
		}
		msg = msg[:limit]
	}
	inst.errorMsg = string(msg)
	return 0
}

// hostSign implements sign(claims_ptr, claims_len) -> SET length.
// Statuses: INVALID_MEMORY, NOT_PERMITTED without the sign grant,
// LIMIT_EXCEEDED over the signs budget, TOO_LARGE over claims_bytes,
// INVALID_ARGUMENT for claims that break the SET rules, UNAVAILABLE when
// the signer may succeed on retry, INTERNAL when signing fails otherwise.
func hostSign(inst *instance, mem api.Memory, args []uint64) int32 {
	claims, ok := guestBytes(mem, args[0], args[1])
	if !ok {
		return int32(abi.StatusInvalidMemory)
	}
	l := inst.l
	setSigner := l.env.Load().signer
	if !l.cfg.Sign || setSigner == nil {
		if inst.takeLogLine() {
			l.logger.Warn("sign rejected", "reason", "listener not granted sign: set sign: true for it")
		}
		return int32(abi.StatusNotPermitted)
	}
	if inst.signs >= l.cfg.Budgets.Signs {
		return int32(abi.StatusLimitExceeded)
	}
	inst.signs++
	if len(claims) > int(l.cfg.Budgets.ClaimsBytes) {
		return int32(abi.StatusTooLarge)
	}
	token, err := setSigner.Sign(claims)
	if err != nil {
		if errors.Is(err, signer.ErrInvalidClaims) {
			if inst.takeLogLine() {
				l.logger.Warn("sign rejected", "error", err)
			}
			return int32(abi.StatusInvalidArgument)
		}
		l.logger.Error("sign failed", "error", err)
		if errors.Is(err, ErrSignerUnavailable) {
			return int32(abi.StatusUnavailable)
		}
		return int32(abi.StatusInternal)
	}
	inst.result = token
	return int32(len(token))
}

// hostEmit implements emit(sink_ptr, sink_len, data_ptr, data_len) -> 0.
// Statuses, in the order checked:
//   - INVALID_MEMORY for either region;
//   - NOT_FOUND for a sink not in config;
//   - NOT_PERMITTED for a sink not granted to the listener;
//   - LIMIT_EXCEEDED over the emits budget;
//   - TOO_LARGE over emit_bytes;
//   - INVALID_ARGUMENT for a payload the sink cannot carry;
//   - UNAVAILABLE when the sink is full or down;
//   - INTERNAL for other sink failures.
func hostEmit(inst *instance, mem api.Memory, args []uint64) int32 {
	name, ok := guestBytes(mem, args[0], args[1])
	if !ok {
		return int32(abi.StatusInvalidMemory)
	}
	data, ok := guestBytes(mem, args[2], args[3])
	if !ok {
		return int32(abi.StatusInvalidMemory)
	}
	l := inst.l

	target, known := l.env.Load().sinks[string(name)]
	if !known || target == nil {
		if inst.takeLogLine() {
			l.logger.Warn("emit rejected", "sink", string(name), "reason", sinkRejection(known))
		}
		if !known {
			return int32(abi.StatusNotFound)
		}
		return int32(abi.StatusNotPermitted)
	}
	if inst.emits >= l.cfg.Budgets.Emits {
		return int32(abi.StatusLimitExceeded)
	}
	inst.emits++
	if len(data) > int(l.cfg.Budgets.EmitBytes) {
		return int32(abi.StatusTooLarge)
	}

	err := target.Publish(context.Background(), data)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, sink.ErrInvalidPayload):
		if inst.takeLogLine() {
			l.logger.Warn("emit rejected", "sink", string(name), "error", err)
		}
		return int32(abi.StatusInvalidArgument)
	case errors.Is(err, sink.ErrUnavailable):
		l.logger.Warn("emit failed", "sink", string(name), "error", err)
		return int32(abi.StatusUnavailable)
	default:
		l.logger.Error("emit failed", "sink", string(name), "error", err)
		return int32(abi.StatusInternal)
	}
}

func sinkRejection(known bool) string {
	if known {
		return "sink not granted to this listener: add it to the listener's sinks"
	}
	return "no sink of this name is configured"
}

// guestOutput turns what a guest writes to a WASI stream into log lines,
// one per newline, within the per-call log budget.
//
// Write is a host-side loop that the guest sizes, because fd_write takes
// any number of iovecs of any length. The call deadline is not checked while
// it runs, so it examines at most outputScanLimit bytes per call in all and
// then fails every further write.
type guestOutput struct {
	inst    *instance
	stream  string
	partial []byte
}

// errOutputBudget fails fd_write, with EIO in the guest, once a call has
// written more than outputScanLimit bytes to stdout and stderr.
var errOutputBudget = errors.New("guest output budget exhausted")

// outputScanLimit is how many bytes of stdout and stderr one call may write:
// enough for the full log budget, counting each line as its maximum length.
func (inst *instance) outputScanLimit() int {
	b := inst.l.cfg.Budgets
	return b.LogLines * (int(b.LogBytes) + 1)
}

func (o *guestOutput) Write(p []byte) (int, error) {
	inst := o.inst
	room := inst.outputScanLimit() - inst.outputBytes
	if room <= 0 {
		return 0, errOutputBudget
	}
	var err error
	if len(p) > room {
		p, err = p[:room], errOutputBudget
	}
	// An empty write costs one byte, so a guest cannot make the host walk
	// millions of empty iovecs for free.
	inst.outputBytes += max(len(p), 1)

	n := len(p)
	limit := int(inst.l.cfg.Budgets.LogBytes)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		line := p
		if i >= 0 {
			line = p[:i]
		}
		if room := limit - len(o.partial); room > 0 {
			o.partial = append(o.partial, line[:min(room, len(line))]...)
		}
		if i < 0 {
			break
		}
		o.emitLine()
		p = p[i+1:]
	}
	return n, err
}

func (o *guestOutput) flush() {
	if len(o.partial) > 0 {
		o.emitLine()
	}
}

func (o *guestOutput) emitLine() {
	line := string(o.partial)
	o.partial = o.partial[:0]
	if !o.inst.takeLogLine() {
		return
	}
	level := slog.LevelInfo
	if o.stream == "stderr" {
		level = slog.LevelWarn
	}
	o.inst.l.logger.Log(context.Background(), level, line, "source", o.stream)
}
