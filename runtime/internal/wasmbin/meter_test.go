package wasmbin

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// repoModules returns every prebuilt module in the repository.
func repoModules(t testing.TB) []string {
	t.Helper()
	root := filepath.Join("..", "..", "..")
	paths, err := filepath.Glob(filepath.Join(root, "testdata", "guests", "*.wasm"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no test guests found: %v", err)
	}
	if raceEnabled {
		return paths // compiling the Go examples takes minutes under -race
	}
	examples, _ := filepath.Glob(filepath.Join(root, "examples", "*", "*.wasm"))
	if len(examples) == 0 {
		t.Fatal("no example modules found")
	}
	return append(paths, examples...)
}

// TestMeterRepoModules meters every module in the repository and checks
// that wazero accepts each rewritten module it accepted before.
func TestMeterRepoModules(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	for _, path := range repoModules(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			code, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			before, beforeErr := rt.CompileModule(ctx, code)
			if beforeErr != nil {
				t.Skipf("wazero rejects the module itself: %v", beforeErr)
			}
			defer before.Close(ctx)
			out, err := Meter(code)
			if err != nil {
				t.Fatalf("Meter: %v", err)
			}
			after, err := rt.CompileModule(ctx, out)
			if err != nil {
				t.Fatalf("wazero rejects the metered module: %v", err)
			}
			defer after.Close(ctx)
			if len(after.ExportedFunctions()) != len(before.ExportedFunctions()) {
				t.Errorf("metered module exports %d functions, want %d", len(after.ExportedFunctions()), len(before.ExportedFunctions()))
			}
		})
	}
}

func TestMeterRejects(t *testing.T) {
	cases := []struct {
		name string
		code []byte
		want string
	}{
		{"not wasm", []byte("hello"), "not a WebAssembly"},
		{"reserved export", progModule(nil, BudgetExport), "reserves"},
		{"unknown global", progModule([]byte{0x23, 0x05, 0x1a}, ""), "does not define"},
		{"cut body", progModule([]byte{0x02, 0x40}, ""), "ends inside a block"},
		{"exceptions", progModule([]byte{0x08, 0x00}, ""), "not supported"},
		// "run" has 12 locals, so index 12 would be its fuel local once
		// metered: setting it in a loop would make the loop free.
		{"fuel local set", progModule([]byte{0x03, 0x40, 0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x21, 0x0c, 0x0c, 0x00, 0x0b, 0x42, 0x00}, ""), "refers to local 12"},
		{"local past fuel", progModule([]byte{0x20, 0x0d}, ""), "refers to local 13"},
		// 0xffffffff + 1 wraps to 0, the index of the refuel import in a
		// module without imports.
		// progModule defines two types, so type 2 would name the refuel
		// type once rewritten.
		{"call_indirect past types", progModule([]byte{0x41, 0x00, 0x11, 0x02, 0x00, 0x42, 0x00}, ""), "refers to type 2"},
		{"block type past types", progModule([]byte{0x02, 0x02, 0x0b, 0x42, 0x00}, ""), "refers to type 2"},
		{"call past functions", progModule([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x42, 0x00}, ""), "refers to function 4294967295"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Meter(c.code)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Meter error = %v, want one containing %q", err, c.want)
			}
		})
	}
}

// progModule builds a module with one function "run" () -> i64, whose
// body is code (the function end is added; nil means the body i64.const 0)
// and, when exportName is not empty, an extra export of that name.
func progModule(code []byte, exportName string) []byte {
	if code == nil {
		code = []byte{0x42, 0x00}
	}
	p := &program{}
	p.body = code
	p.exportName = exportName
	return p.module()
}

// count is a statement that adds 1 to the i64 at address 0.
var count = []byte{0x41, 0x00, 0x41, 0x00, 0x29, 0x03, 0x00, 0x42, 0x01, 0x7c, 0x37, 0x03, 0x00}

// countLoop is a statement that runs count five times, with local 4 as
// the loop counter.
var countLoop = concat([]byte{0x41, 0x05, 0x21, 0x04, 0x03, 0x40}, count,
	[]byte{0x20, 0x04, 0x41, 0x01, 0x6b, 0x22, 0x04, 0x0d, 0x00, 0x0b})

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// endlessPrograms never return; address 0 counts their loop iterations.
// frames is the most functions with loops they have active at once.
var endlessPrograms = []struct {
	name   string
	p      program
	frames int64
}{
	// loop (count; br 0) end
	{"loop", program{body: concat([]byte{0x03, 0x40}, count, []byte{0x0c, 0x00, 0x0b, 0x42, 0x00})}, 1},
	// loop (l0 = gen0(l0); br 0) end, gen0 running countLoop
	{"loop calling loop", program{
		body:  []byte{0x03, 0x40, 0x20, 0x00, 0x10, 0x02, 0x21, 0x00, 0x0c, 0x00, 0x0b, 0x42, 0x00},
		funcs: [][]byte{concat(countLoop, []byte{0x20, 0x00})},
	}, 2},
	// loop (gen0(40); br 0) end, where gen0(n) runs countLoop, then
	// gen0(n-1) unless n is 0
	{"recursion", program{
		body: []byte{0x03, 0x40, 0x42, 40, 0x10, 0x02, 0x1a, 0x0c, 0x00, 0x0b, 0x42, 0x00},
		funcs: [][]byte{concat(countLoop, []byte{
			0x20, 0x00, 0x50, 0x04, 0x7e, 0x42, 0x00, 0x05, // if (l0 == 0) 0 else
			0x20, 0x00, 0x42, 0x01, 0x7d, 0x10, 0x02, 0x0b, // gen0(l0-1) end
		})},
	}, 42},
}

// maxCharge is more than any charge point of the test programs charges.
const maxCharge = 100

// TestMeterStopsEndlessLoop runs endless programs under budgets and checks
// that each traps. It must run no more iterations than a meter that
// charges every loop header on the global allows. It must run at least as
// many as that meter allows with the fuel of every active function taken
// off the budget.
func TestMeterStopsEndlessLoop(t *testing.T) {
	for _, prog := range endlessPrograms {
		exact, out := meterTwice(t, prog.p.module())
		for _, budget := range []int64{0, 1, 1000, 100_000, 1_000_000, 10_000_000} {
			res := runMetered(t, out, budget)
			if res.err == nil || !strings.Contains(res.err.Error(), errExhausted.Error()) {
				t.Fatalf("%s, budget %d: returned %v, want a trap", prog.name, budget, res.err)
			}
			if res.left >= 0 {
				t.Errorf("%s, budget %d: %d left after the trap, want a negative budget", prog.name, budget, res.left)
			}
			if taken := budget - res.left; taken > budget+fuelReserve+maxCharge {
				t.Errorf("%s, budget %d: took %d from the global, more than one take past the budget", prog.name, budget, taken)
			}
			most := counted(runMetered(t, exact, budget))
			least := counted(runMetered(t, exact, max(0, budget-prog.frames*(fuelReserve+maxCharge))))
			if got := counted(res); got > most || got < least {
				t.Errorf("%s, budget %d: ran %d iterations, want %d to %d", prog.name, budget, got, least, most)
			}
		}
	}
}

// meterTwice returns code metered with a fuel reserve of 0, which charges
// loop headers on the global, and as Meter meters it.
func meterTwice(t *testing.T, code []byte) (exact, out []byte) {
	t.Helper()
	exact, err := meterModule(code, 0)
	if err != nil {
		t.Fatal(err)
	}
	out, err = Meter(code)
	if err != nil {
		t.Fatal(err)
	}
	return exact, out
}

// TestMeterSmallBudget runs a recursion 40 functions with loops deep on
// twice the budget it spends. Each function may take only a part of what
// is left into its fuel local, or the reserves alone would exceed that
// budget.
func TestMeterSmallBudget(t *testing.T) {
	// gen0(40); 0, where gen0 is the recursion of endlessPrograms
	p := program{
		body:  []byte{0x42, 40, 0x10, 0x02, 0x1a, 0x42, 0x00},
		funcs: endlessPrograms[2].p.funcs,
	}
	exact, out := meterTwice(t, p.module())
	const budget = 1 << 40
	spent := budget - runMetered(t, exact, budget).left
	if spent*2 > 40*fuelReserve {
		t.Fatalf("the recursion spends %d, too much to test reserves of %d", spent, fuelReserve)
	}
	res := runMetered(t, out, spent*2)
	if res.err != nil {
		t.Fatalf("budget %d, twice what the recursion spends: %v", spent*2, res.err)
	}
	if got := counted(res); got != 41*5 {
		t.Errorf("counted %d iterations, want %d", got, 41*5)
	}
}

// counted returns the iterations a program counted at address 0.
func counted(res result) uint64 {
	return binary.LittleEndian.Uint64([]byte(res.mem[:8]))
}

// TestMeterRefunds calls a function with a loop 1,000 times. The budget it
// spends must be what a meter that charges every loop header on the
// global spends, and that budget plus the fuel of the two functions with
// loops must suffice.
func TestMeterRefunds(t *testing.T) {
	// loop (gen0(0); l4 = l4+1; br_if l4 != 1000) end; 0
	p := program{
		body: []byte{0x03, 0x40, 0x42, 0x00, 0x10, 0x02, 0x1a,
			0x20, 0x04, 0x41, 0x01, 0x6a, 0x22, 0x04, 0x41, 0xe8, 0x07, 0x47, 0x0d, 0x00, 0x0b, 0x42, 0x00},
		funcs: [][]byte{concat(countLoop, []byte{0x20, 0x00})},
	}
	exact, out := meterTwice(t, p.module())
	const budget = 1 << 40
	spent := budget - runMetered(t, exact, budget).left
	if got := budget - runMetered(t, out, budget).left; got != spent {
		t.Errorf("spent %d, want %d", got, spent)
	}
	res := runMetered(t, out, spent+2*(fuelReserve+maxCharge))
	if res.err != nil {
		t.Fatalf("budget of %d spent plus the fuel of 2 functions: %v", spent, res.err)
	}
	if got := counted(res); got != 5000 {
		t.Errorf("counted %d iterations, want 5000", got)
	}
}

// result is what one run of "run" produced.
type result struct {
	value uint64
	err   error
	left  int64 // budget left, metered runs only
	mem   string
}

// runMetered instantiates code, sets its budget and calls "run".
func runMetered(t testing.TB, code []byte, budget int64) result {
	return runModule(t, code, budget, true)
}

// testSlice is the most a test's refuel function adds to the budget
// global at once; small, so programs refuel often.
const testSlice = 1000

var errExhausted = errors.New("instruction budget exhausted")

func runModule(t testing.TB, code []byte, budget int64, metered bool) (res result) {
	t.Helper()
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfig().WithMemoryLimitPages(4)
	if !metered {
		cfg = cfg.WithCloseOnContextDone(true)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	defer rt.Close(context.Background())
	left := budget
	if metered {
		refuel := func(_ context.Context, mod api.Module, _ []uint64) {
			g := mod.ExportedGlobal(BudgetExport).(api.MutableGlobal)
			global, newLeft, ok := Refill(int64(g.Get()), left, testSlice)
			g.Set(uint64(global))
			left = newLeft
			if !ok {
				panic(errExhausted)
			}
		}
		_, err := rt.NewHostModuleBuilder(RefuelModule).NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(refuel), nil, nil).Export(RefuelName).Instantiate(ctx)
		if err != nil {
			t.Fatal(err)
		}
	}
	mod, err := rt.Instantiate(ctx, code)
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	if metered {
		g := mod.ExportedGlobal(BudgetExport).(api.MutableGlobal)
		defer func() { res.left = left + int64(g.Get()) }()
	}
	out, err := mod.ExportedFunction("run").Call(ctx)
	if err != nil {
		res.err = errors.New(firstLineOf(err.Error()))
	} else {
		res.value = out[0]
	}
	if b, ok := mod.Memory().Read(0, 256); ok {
		res.mem = string(b)
	}
	return res
}

func firstLineOf(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// FuzzMeter builds a program from the fuzzer's bytes. It has nested loops
// with and without block types, branches out of blocks and out of the
// function, returns inside loops, calls from loops to functions with
// loops, recursion, memory access and arithmetic that can trap. wazero must
// accept the metered module, and it must compute the same result, the
// same trap and the same memory as the original when the budget suffices.
// The same budget must be spent on every run. A budget one short of what
// a fuel reserve of 0, which charges loop headers on the global, spends
// must stop the program. A program that returns must spend that budget
// exactly, with every fuel reserve.
func FuzzMeter(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{3, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{3, 200, 3, 100, 0, 5, 9, 2, 4, 4, 1, 1, 6, 2, 8})
	f.Add([]byte("loops within loops within loops, then a call and a store"))
	f.Add([]byte{4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 7, 7, 7})
	f.Add([]byte{5, 3, 9, 3, 10, 3, 11, 3, 12, 3, 13, 3, 14, 7, 1, 7, 2, 3, 12, 11, 10, 9})
	f.Add([]byte("returning from loops, leaving the function from a br_table in a loop"))
	f.Fuzz(func(t *testing.T, seed []byte) {
		p := generate(seed)
		code := p.module()
		plain := runModule(t, code, 0, false)
		out, err := Meter(code)
		if err != nil {
			t.Fatalf("Meter: %v", err)
		}
		const budget = 1 << 50
		metered := runModule(t, out, budget, true)
		if plain.value != metered.value || plain.mem != metered.mem || errText(plain.err) != errText(metered.err) {
			t.Fatalf("metered run differs:\nplain   %d %v\nmetered %d %v", plain.value, plain.err, metered.value, metered.err)
		}
		if again := runModule(t, out, budget, true); again.left != metered.left {
			t.Fatalf("budget left %d, then %d on a second run", metered.left, again.left)
		}
		exactCode, err := meterModule(code, 0)
		if err != nil {
			t.Fatalf("reserve 0: %v", err)
		}
		exact := runModule(t, exactCode, budget, true)
		spent := budget - exact.left
		if short := runModule(t, out, spent-1, true); short.err == nil || short.left >= 0 {
			t.Fatalf("budget %d (one short of the %d spent): %v, %d left; want a budget trap", spent-1, spent, short.err, short.left)
		}
		if plain.err != nil {
			return // a trap leaves fuel in the locals of the functions it ends
		}
		if metered.left != exact.left {
			t.Fatalf("%d left, but %d with loop headers charged on the global", metered.left, exact.left)
		}
		for _, reserve := range []int64{1, 50} {
			other, err := meterModule(code, reserve)
			if err != nil {
				t.Fatalf("reserve %d: %v", reserve, err)
			}
			if res := runModule(t, other, budget, true); res.left != exact.left || res.value != exact.value {
				t.Fatalf("reserve %d: %d left, result %d; reserve 0: %d left, result %d",
					reserve, res.left, res.value, exact.left, exact.value)
			}
		}
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// program is a generated module. Function 0 is "run" () -> i64 with locals
// 0-3 i64 and 4-11 i32 loop counters; function 1 is a helper (i64) -> i64
// that loops over its argument; functions 2 on are the functions of funcs,
// (i64) -> i64, whose parameter and locals are laid out as run's locals.
// Global 0 is an i64 that expressions read and write; global 1 is how
// many more calls of functions 2 on the program may make.
type program struct {
	seed       []byte
	pos        int
	body       []byte   // the body of run, without its end
	funcs      [][]byte // the bodies of functions 2 on, without their ends
	labels     int      // labels open in the body being generated
	counters   int      // loop counters in use
	exportName string
}

// generatedFuncs is how many functions generate adds beside run and the
// helper.
const generatedFuncs = 2

// maxCalls bounds the calls of generated functions in one run.
const maxCalls = 64

func (p *program) next() byte {
	if p.pos >= len(p.seed) {
		return 0
	}
	b := p.seed[p.pos]
	p.pos++
	return b
}

// generate builds the generated functions and then the body of run from
// seed.
func generate(seed []byte) *program {
	p := &program{seed: seed}
	for range generatedFuncs {
		for n := p.next() % 8; n > 0; n-- {
			p.stmt()
		}
		p.result()
		p.funcs = append(p.funcs, p.body)
		p.body = nil
	}
	for p.pos < len(p.seed) && len(p.body) < 4096 {
		p.stmt()
	}
	p.result()
	return p
}

// result pushes l0 ^ l1 ^ l2 ^ l3.
func (p *program) result() {
	p.emit(0x20, 0, 0x20, 1, 0x85, 0x20, 2, 0x85, 0x20, 3, 0x85)
}

func (p *program) emit(b ...byte) { p.body = append(p.body, b...) }

// stmt emits one statement that leaves the stack as it found it.
func (p *program) stmt() {
	op := p.next() % 15
	if p.labels > 6 && (op >= 3 && op <= 8 || op >= 12) {
		op %= 3
	}
	switch op {
	case 0, 1: // local.set lX (expr)
		p.expr(2)
		p.emit(0x21, p.next()%4)
	case 2: // i32.const addr; expr; i64.store
		p.address()
		p.expr(2)
		p.emit(0x37, 0x03, 0x00)
	case 3, 4: // bounded loop: loop stmts; --counter; br_if 0 end
		p.loop(0x40, nil, nil)
	case 5: // if (expr != 0) stmts else stmts end
		p.expr(2)
		p.emit(0x50, 0x04, 0x40) // i64.eqz, if
		p.labels++
		p.block()
		p.emit(0x05)
		p.block()
		p.end()
	case 6: // block stmts; br_if 0 (expr == 0); stmts end
		p.emit(0x02, 0x40)
		p.labels++
		p.block()
		p.expr(2)
		p.emit(0x50, 0x0d, 0x00)
		p.block()
		p.end()
	case 7: // l0 = helper(expr), or a generated function
		p.call()
	case 8: // br_table out of two blocks
		p.emit(0x02, 0x40, 0x02, 0x40)
		p.labels += 2
		p.block()
		p.expr(1)
		p.emit(0xa7, 0x0e, 0x02, 0x00, 0x01, 0x00, 0x0b) // i32.wrap, br_table 0 1 0
		p.labels--
		p.block()
		p.end()
	case 9: // if (expr & 15 == 0) return expr
		p.rarely()
		p.emit(0x04, 0x40)
		p.labels++
		p.expr(2)
		p.emit(0x0f)
		p.end()
	case 10: // br_if to the function's label: expr; (expr & 15 == 0); br_if; drop
		p.expr(2)
		p.rarely()
		p.emit(0x0d)
		p.body = appendU32(p.body, uint32(p.labels))
		p.emit(0x1a)
	case 11: // block (result i64) expr; br_table 0 <function> 0 (expr & 15); end; drop
		p.emit(0x02, 0x7e)
		p.labels++
		p.expr(2)
		p.expr(1)
		p.emit(0x42, 0x0f, 0x83, 0xa7, 0x0e, 0x02, 0x00)
		p.body = appendU32(p.body, uint32(p.labels))
		p.emit(0x00)
		p.end()
		p.emit(0x1a)
	case 12: // l0 = loop (result i64) stmts; expr; --counter; br_if 0 end
		p.loop(0x7e, nil, []byte{0x21, 0x00})
	case 13: // l1 = expr; loop (param i64) (result i64) stmts; expr; i64.xor; --counter; br_if 0 end
		p.expr(1)
		p.loop(0x01, []byte{0x85}, []byte{0x21, 0x01})
	case 14: // if (expr & 15 == 0) br <function> expr
		p.rarely()
		p.emit(0x04, 0x40)
		p.labels++
		p.expr(2)
		p.emit(0x0c)
		p.body = appendU32(p.body, uint32(p.labels))
		p.end()
	}
}

// loop emits a loop of block type bt that runs its statements at most 16
// times. A loop with results pushes an expression before the branch back,
// and combines it with its parameter when it has one (type index 1).
func (p *program) loop(bt byte, combine, after []byte) {
	if p.counters >= 8 {
		p.expr(1)
		p.emit(0x1a)
		if bt == 0x01 {
			p.emit(0x1a)
		}
		return
	}
	c := byte(4 + p.counters)
	p.counters++
	p.emit(0x41, p.next()%16+1, 0x21, c, 0x03, bt)
	p.labels++
	p.block()
	if bt != 0x40 {
		p.expr(1)
		p.emit(combine...)
	}
	p.emit(0x20, c, 0x41, 0x01, 0x6b, 0x22, c, 0x0d, 0x00)
	p.end()
	p.emit(after...)
	p.counters--
}

// call emits l0 = f(expr), for f the helper or, while calls remain, a
// generated function.
func (p *program) call() {
	target := p.next() % (generatedFuncs + 1)
	if target == 0 {
		p.expr(1)
		p.emit(0x10, 0x01, 0x21, 0x00)
		return
	}
	// if (global1 == 0) 0 else global1--; f(expr) end
	p.emit(0x23, 0x01, 0x50, 0x04, 0x7e, 0x42, 0x00, 0x05,
		0x23, 0x01, 0x42, 0x01, 0x7d, 0x24, 0x01)
	p.labels++
	p.expr(1)
	p.emit(0x10, 1+target)
	p.end()
	p.emit(0x21, 0x00)
}

// rarely pushes an i32 that is 1 for one value of an expression in 16.
func (p *program) rarely() {
	p.expr(1)
	p.emit(0x42, 0x0f, 0x83, 0x50) // i64.and 15, i64.eqz
}

// end closes a block.
func (p *program) end() {
	p.emit(0x0b)
	p.labels--
}

// block emits up to three statements.
func (p *program) block() {
	for n := p.next() % 4; n > 0; n-- {
		p.stmt()
	}
}

// address emits i32.const of an 8-byte aligned address below 256.
func (p *program) address() {
	p.emit(0x41)
	p.body = appendS64(p.body, int64(p.next()%32*8))
}

// expr emits an expression that pushes one i64.
func (p *program) expr(depth int) {
	op := p.next() % 6
	if depth == 0 && op >= 2 {
		op %= 2
	}
	switch op {
	case 0:
		p.emit(0x42, p.next()&0x3f)
	case 1:
		p.emit(0x20, p.next()%4)
	case 2: // binary arithmetic, with division that can trap
		p.expr(depth - 1)
		p.expr(depth - 1)
		ops := []byte{0x7c, 0x7d, 0x7e, 0x85, 0x89, 0x80, 0x82}
		p.emit(ops[int(p.next())%len(ops)])
	case 3: // i64.load from a fixed address
		p.address()
		p.emit(0x29, 0x03, 0x00)
	case 4: // global.get 0 (an i64 global the module defines)
		p.emit(0x23, 0x00)
	case 5:
		p.expr(depth - 1)
		p.emit(0x42, 0x01, 0x7c, 0x24, 0x00, 0x23, 0x00) // global0 = e+1; push it
	}
}

// module encodes the program as a binary.
func (p *program) module() []byte {
	sec := func(b []byte, id byte, contents []byte) []byte {
		b = append(b, id)
		b = appendU32(b, uint32(len(contents)))
		return append(b, contents...)
	}
	b := append([]byte{}, header...)
	// Types: 0 () -> i64, 1 (i64) -> i64.
	b = sec(b, sectionType, []byte{2, 0x60, 0, 1, 0x7e, 0x60, 1, 0x7e, 1, 0x7e})
	funcs := []byte{byte(2 + len(p.funcs)), 0, 1}
	for range p.funcs {
		funcs = append(funcs, 1)
	}
	b = sec(b, sectionFunction, funcs)
	b = sec(b, sectionMemory, []byte{1, 0, 1})
	b = sec(b, sectionGlobal, []byte{2, 0x7e, 0x01, 0x42, 0x07, 0x0b, 0x7e, 0x01, 0x42, maxCalls, 0x0b})
	exports := []byte{2, 3, 'r', 'u', 'n', 0x00, 0x00, 6, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00}
	if p.exportName != "" {
		exports[0] = 3
		exports = appendU32(exports, uint32(len(p.exportName)))
		exports = append(exports, p.exportName...)
		exports = append(exports, 0x00, 0x00)
	}
	b = sec(b, sectionExport, exports)

	body := func(locals []byte, code []byte) []byte {
		return append(append(locals, code...), 0x0b)
	}
	// helper(x): n = (x & 15) + 1; loop { x = x*31 + n; n--; br_if n != 0 }; x
	helper := []byte{1, 1, 0x7e,
		0x20, 0, 0x42, 15, 0x83, 0x42, 1, 0x7c, 0x21, 1,
		0x03, 0x40,
		0x20, 0, 0x42, 31, 0x7e, 0x20, 1, 0x7c, 0x21, 0,
		0x20, 1, 0x42, 1, 0x7d, 0x22, 1, 0x42, 0, 0x52, 0x0d, 0x00,
		0x0b,
		0x20, 0, 0x0b}
	bodies := [][]byte{body([]byte{2, 4, 0x7e, 8, 0x7f}, p.body), helper}
	for _, f := range p.funcs {
		bodies = append(bodies, body([]byte{2, 3, 0x7e, 8, 0x7f}, f))
	}
	code := appendU32(nil, uint32(len(bodies)))
	for _, f := range bodies {
		code = appendU32(code, uint32(len(f)))
		code = append(code, f...)
	}
	return sec(b, sectionCode, code)
}

// FuzzMeterValidates meters arbitrary binaries, seeded with every module in
// the repository: whenever wazero accepts the input, Meter must accept it
// and wazero must accept the result.
func FuzzMeterValidates(f *testing.F) {
	for _, path := range repoModules(f) {
		code, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		if len(code) < 64<<10 {
			f.Add(code)
		}
	}
	f.Add(generate([]byte{3, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9}).module())
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithMemoryLimitPages(16))
	f.Cleanup(func() { rt.Close(ctx) })
	f.Fuzz(func(t *testing.T, code []byte) {
		if Check(code, DefaultLimits) != nil {
			return
		}
		before, panicked, err := compileRecovering(ctx, rt, code)
		if panicked != nil {
			// wazero v1.12.0 panics on some invalid modules, such as one
			// whose function section names a type it does not define.
			// tokenwire compiles only what Meter returns, so Meter must
			// reject those.
			if _, err := Meter(code); err == nil {
				t.Fatalf("wazero panics on the module (%v) and Meter accepts it", panicked)
			}
			return
		}
		if err != nil {
			return
		}
		before.Close(ctx)
		out, err := Meter(code)
		if err != nil {
			if strings.Contains(err.Error(), "reserves") {
				return
			}
			t.Fatalf("wazero accepts the module but Meter rejects it: %v", err)
		}
		after, err := rt.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("wazero rejects the metered module: %v", err)
		}
		after.Close(ctx)
	})
}

// compileRecovering compiles code in rt and returns wazero's panic, if
// any, instead of panicking.
func compileRecovering(ctx context.Context, rt wazero.Runtime, code []byte) (compiled wazero.CompiledModule, panicked any, err error) {
	defer func() { panicked = recover() }()
	compiled, err = rt.CompileModule(ctx, code)
	return compiled, nil, err
}

// TestMeterRenumbers runs a module that uses a function index in every
// place one can appear (calls, call_indirect through active and passive
// element segments, ref.func in a global and in code, the start function,
// exports) with and without metering.
func TestMeterRenumbers(t *testing.T) {
	code, err := os.ReadFile(filepath.Join("testdata", "renumber.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Meter(code)
	if err != nil {
		t.Fatal(err)
	}
	// start 1000, double(5) 10, triple(7) 21, inc(11) 12, double(13) 26,
	// triple(17) 51, inc(19) 20, sum of 2n for n = 1..10 is 110.
	const want = 1000 + 10 + 21 + 12 + 26 + 51 + 20 + 110
	for _, metered := range []bool{false, true} {
		ctx := context.Background()
		rt := wazero.NewRuntime(ctx)
		defer rt.Close(ctx)
		_, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
			WithFunc(func(a, b int64) int64 { return a + b }).Export("add").Instantiate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		module := code
		if metered {
			module = out
			_, err := rt.NewHostModuleBuilder(RefuelModule).NewFunctionBuilder().
				WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, mod api.Module, _ []uint64) {
					mod.ExportedGlobal(BudgetExport).(api.MutableGlobal).Set(testSlice)
				}), nil, nil).Export(RefuelName).Instantiate(ctx)
			if err != nil {
				t.Fatal(err)
			}
		}
		mod, err := rt.Instantiate(ctx, module)
		if err != nil {
			t.Fatalf("metered %t: instantiate: %v", metered, err)
		}
		got, err := mod.ExportedFunction("run").Call(ctx)
		if err != nil {
			t.Fatalf("metered %t: run: %v", metered, err)
		}
		if int64(got[0]) != want {
			t.Errorf("metered %t: run = %d, want %d", metered, int64(got[0]), want)
		}
		tripled, err := mod.ExportedFunction("triple").Call(ctx, 4)
		if err != nil || tripled[0] != 12 {
			t.Errorf("metered %t: triple(4) = %v, %v; want 12", metered, tripled, err)
		}
	}
}

// TestMeterChargesBulkLength runs endless loops of one bulk memory
// instruction over most of the memory. Each instruction is one
// instruction to the static count, but its work grows with its length,
// so charging only the count let a loop fill gigabytes per refuel, far
// past its deadline. The length must be charged, a unit per
// 1<<bulkMemoryShift bytes.
func TestMeterChargesBulkLength(t *testing.T) {
	const n = 65528 // bytes 8 on, past the counter at address 0
	length := []byte{0x41, 0xf8, 0xff, 0x03}
	for _, c := range []struct {
		name string
		op   []byte
	}{
		{"memory.fill", concat([]byte{0x41, 0x08, 0x41, 0x00}, length, []byte{0xfc, 0x0b, 0x00})},
		{"memory.copy", concat([]byte{0x41, 0x08, 0x41, 0x08}, length, []byte{0xfc, 0x0a, 0x00, 0x00})},
	} {
		// loop (count; op; br 0) end; 0
		code := progModule(concat([]byte{0x03, 0x40}, count, c.op, []byte{0x0c, 0x00, 0x0b, 0x42, 0x00}), "")
		out, err := Meter(code)
		if err != nil {
			t.Fatal(err)
		}
		const budget = 1_000_000
		res := runMetered(t, out, budget)
		if res.err == nil || !strings.Contains(res.err.Error(), errExhausted.Error()) {
			t.Fatalf("%s: returned %v, want a trap", c.name, res.err)
		}
		if got, most := counted(res), uint64((budget+fuelReserve)/(n>>bulkMemoryShift)+1); got > most {
			t.Errorf("%s of %d bytes ran %d times on a budget of %d, want at most %d", c.name, n, got, budget, most)
		}
	}
}
