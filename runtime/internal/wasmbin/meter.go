package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
)

// BudgetExport is the name under which Meter exports the budget global.
const BudgetExport = "tokenwire_budget"

// Section ids Meter needs beyond those Check reads.
const (
	sectionStart     = 8
	sectionDataCount = 12
	sectionTag       = 13
)

// sectionOrder ranks non-custom sections in the order the binary format
// requires; the tag section sits between memory and global.
func sectionOrder(id byte) int {
	switch id {
	case sectionTag:
		return 55 // between memory (50) and global (60)
	case sectionDataCount:
		return 95 // between element (90) and code (100)
	default:
		return int(id) * 10
	}
}

// Meter returns code rewritten to charge an instruction budget. The module
// gets one more global, a mutable i64 exported as BudgetExport and starting
// at initial. Every function entry and every loop header subtracts from it
// the number of instructions that can run before the next charge point, and
// when the result is negative the code traps with unreachable. Any
// execution that does not end passes through loop headers or function
// entries, so a call runs at most about budget instructions.
//
// The cost charged at a point is the static count of instructions from
// there to the end of the enclosing function or loop body, without the
// bodies of nested loops, which charge for themselves. Both arms of an if
// are counted, so the charge is an upper bound on what runs.
//
// The rewrite inserts code and adds a global and an export; it changes no
// index the module uses. It decodes every instruction and rejects a module
// whose code it cannot decode or that refers to a global it does not
// define, since such a reference would point at the budget once rewritten.
func Meter(code []byte, initial int64) ([]byte, error) {
	if !bytes.HasPrefix(code, header) {
		return nil, fmt.Errorf("%w: not a WebAssembly version 1 binary", ErrMalformed)
	}
	var sections []section
	if err := walkSections(code, func(s section) error {
		sections = append(sections, s)
		return nil
	}); err != nil {
		return nil, err
	}

	var importedGlobals, definedGlobals uint32
	var globalSection, exportSection []byte
	for _, s := range sections {
		var err error
		switch s.id {
		case sectionImport:
			r := &reader{b: s.contents(code), section: sectionImport}
			importedGlobals, err = r.imports(^uint32(0))
		case sectionGlobal:
			globalSection = s.contents(code)
			r := &reader{b: globalSection, section: sectionGlobal}
			definedGlobals, err = r.count("globals", ^uint32(0))
		case sectionExport:
			exportSection = s.contents(code)
		}
		if err != nil {
			return nil, err
		}
	}
	budget := importedGlobals + definedGlobals
	if budget < importedGlobals {
		return nil, fmt.Errorf("%w: global count overflows", ErrMalformed)
	}

	newGlobals, err := appendBudgetGlobal(globalSection, initial)
	if err != nil {
		return nil, err
	}
	newExports, err := appendBudgetExport(exportSection, budget)
	if err != nil {
		return nil, err
	}

	out := make([]byte, 0, len(code)+len(code)/4+64)
	out = append(out, header...)
	emit := func(id byte, contents []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(contents)))
		out = append(out, contents...)
	}
	globalsDone, exportsDone := false, false
	for _, s := range sections {
		if s.id != sectionCustom {
			if !globalsDone && sectionOrder(s.id) > sectionOrder(sectionGlobal) {
				emit(sectionGlobal, newGlobals)
				globalsDone = true
			}
			if !exportsDone && sectionOrder(s.id) > sectionOrder(sectionExport) {
				emit(sectionExport, newExports)
				exportsDone = true
			}
		}
		switch s.id {
		case sectionGlobal:
			emit(sectionGlobal, newGlobals)
			globalsDone = true
		case sectionExport:
			emit(sectionExport, newExports)
			exportsDone = true
		case sectionCode:
			body, err := meterCode(s.contents(code), budget)
			if err != nil {
				return nil, err
			}
			emit(sectionCode, body)
		default:
			out = append(out, code[s.offset:s.end]...)
		}
	}
	if !globalsDone {
		emit(sectionGlobal, newGlobals)
	}
	if !exportsDone {
		emit(sectionExport, newExports)
	}
	return out, nil
}

// appendBudgetGlobal returns the global section with the budget global
// added at its end: (global (mut i64) (i64.const initial)).
func appendBudgetGlobal(section []byte, initial int64) ([]byte, error) {
	var count uint32
	rest := section
	if section != nil {
		var n int
		var err error
		count, n, err = readU32(section)
		if err != nil {
			return nil, fmt.Errorf("%w: global count: %v", ErrMalformed, err)
		}
		rest = section[n:]
	}
	out := appendU32(nil, count+1)
	out = append(out, rest...)
	out = append(out, 0x7e, 0x01, 0x42) // i64, mutable, i64.const
	out = appendS64(out, initial)
	return append(out, 0x0b), nil
}

// appendBudgetExport returns the export section with the budget global
// exported as BudgetExport. A module that already exports that name is
// rejected.
func appendBudgetExport(section []byte, global uint32) ([]byte, error) {
	var count uint32
	rest := section
	if section != nil {
		r := &reader{b: section, section: sectionExport}
		var err error
		count, err = r.count("exports", ^uint32(0))
		if err != nil {
			return nil, err
		}
		rest = r.b
		for i := uint32(0); i < count; i++ {
			length, err := r.u32()
			if err != nil || uint64(length) > uint64(len(r.b)) {
				return nil, r.malformed("export %d name runs past the section", i)
			}
			if string(r.b[:length]) == BudgetExport {
				return nil, fmt.Errorf("module exports %q, a name the host reserves for the instruction budget", BudgetExport)
			}
			r.b = r.b[length:]
			if err := r.skip(1); err != nil {
				return nil, r.malformed("export %d: %v", i, err)
			}
			if _, err := r.u32(); err != nil {
				return nil, r.malformed("export %d index: %v", i, err)
			}
		}
	}
	out := appendU32(nil, count+1)
	out = append(out, rest...)
	out = appendU32(out, uint32(len(BudgetExport)))
	out = append(out, BudgetExport...)
	out = append(out, 0x03) // global
	return appendU32(out, global), nil
}

// meterCode rewrites every function body of a code section.
func meterCode(section []byte, budget uint32) ([]byte, error) {
	r := &reader{b: section, section: sectionCode}
	n, err := r.count("functions", ^uint32(0))
	if err != nil {
		return nil, err
	}
	out := appendU32(make([]byte, 0, len(section)+len(section)/4), n)
	var m meter
	m.budget = budget
	for i := uint32(0); i < n; i++ {
		size, err := r.u32()
		if err != nil || uint64(size) > uint64(len(r.b)) {
			return nil, r.malformed("function %d body runs past the section", i)
		}
		body, err := m.function(r.b[:size])
		if err != nil {
			return nil, fmt.Errorf("%w: function %d: %v", ErrMalformed, i, err)
		}
		r.b = r.b[size:]
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if len(r.b) != 0 {
		return nil, r.malformed("%d bytes after the last function body", len(r.b))
	}
	return out, nil
}

// meter rewrites one function body at a time, reusing its buffers.
type meter struct {
	budget uint32
	sites  []chargeSite
	stack  []int // per open block: index into sites of its charge point
	out    []byte
}

// chargeSite is a point of the body where a charge is inserted: at offset
// in the original body, charging cost.
type chargeSite struct {
	offset int
	cost   int64
}

// function returns body with charges inserted.
func (m *meter) function(body []byte) ([]byte, error) {
	r := &reader{b: body, section: sectionCode}
	groups, err := r.u32()
	if err != nil {
		return nil, fmt.Errorf("local declarations: %v", err)
	}
	for g := uint32(0); g < groups; g++ {
		if _, err := r.u32(); err != nil {
			return nil, fmt.Errorf("local declarations: %v", err)
		}
		if err := r.skip(1); err != nil {
			return nil, fmt.Errorf("local declarations: %v", err)
		}
	}
	m.sites = append(m.sites[:0], chargeSite{offset: len(body) - len(r.b)})
	m.stack = append(m.stack[:0], 0)
	for len(m.stack) > 0 {
		if len(r.b) == 0 {
			return nil, errors.New("body ends inside a block")
		}
		op := r.b[0]
		r.b = r.b[1:]
		m.sites[m.stack[len(m.stack)-1]].cost++
		if err := m.instruction(r, op, len(body)); err != nil {
			return nil, fmt.Errorf("opcode 0x%02x at offset %d: %v", op, len(body)-len(r.b)-1, err)
		}
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d bytes after the function's end", len(r.b))
	}

	out := m.out[:0]
	last := 0
	for _, s := range m.sites {
		out = append(out, body[last:s.offset]...)
		out = m.appendCharge(out, s.cost)
		last = s.offset
	}
	out = append(out, body[last:]...)
	m.out = out
	return out, nil
}

// appendCharge appends the code that charges cost:
//
//	global.get $budget
//	i64.const cost
//	i64.sub
//	global.set $budget
//	global.get $budget
//	i64.const 0
//	i64.lt_s
//	if
//	  unreachable
//	end
func (m *meter) appendCharge(out []byte, cost int64) []byte {
	out = append(out, 0x23)
	out = appendU32(out, m.budget)
	out = append(out, 0x42)
	out = appendS64(out, cost)
	out = append(out, 0x7d, 0x24)
	out = appendU32(out, m.budget)
	out = append(out, 0x23)
	out = appendU32(out, m.budget)
	return append(out, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b)
}

// instruction reads the immediates of op, tracks blocks and records a
// charge site after each loop header. bodyLen converts positions in r to
// offsets in the body.
func (m *meter) instruction(r *reader, op byte, bodyLen int) error {
	switch {
	case op == 0x02 || op == 0x04: // block, if
		m.stack = append(m.stack, m.stack[len(m.stack)-1])
		return r.blockType()
	case op == 0x03: // loop
		if err := r.blockType(); err != nil {
			return err
		}
		m.sites = append(m.sites, chargeSite{offset: bodyLen - len(r.b)})
		m.stack = append(m.stack, len(m.sites)-1)
		return nil
	case op == 0x0b: // end
		m.stack = m.stack[:len(m.stack)-1]
		return nil
	case op == 0x23 || op == 0x24: // global.get, global.set
		idx, err := r.u32()
		if err != nil {
			return err
		}
		if idx >= m.budget {
			return fmt.Errorf("refers to global %d, which the module does not define", idx)
		}
		return nil
	}
	return r.immediates(op)
}

// blockType skips a block type: 0x40, one value type, or an s33 type index.
func (r *reader) blockType() error {
	if len(r.b) == 0 {
		return errors.New("missing block type")
	}
	if b := r.b[0]; b == 0x40 || (b >= 0x7b && b <= 0x7f) || b == 0x70 || b == 0x6f {
		r.b = r.b[1:]
		return nil
	}
	return r.skipLEB(5)
}

// immediates skips the immediates of every instruction other than the
// block and global instructions. An opcode that does not exist is left
// for wazero to reject; one whose immediates this reader does not know
// (exception handling, garbage collection) is rejected here.
func (r *reader) immediates(op byte) error {
	switch {
	case op == 0x05, op == 0x00, op == 0x01, op == 0x0f, op == 0x1a, op == 0x1b, op == 0xd1:
		// else, unreachable, nop, return, drop, select, ref.is_null
		return nil
	case op == 0x0c || op == 0x0d: // br, br_if
		return r.skipLEB(5)
	case op == 0x0e: // br_table
		n, err := r.count("labels", ^uint32(0))
		if err != nil {
			return err
		}
		for i := uint32(0); i <= n; i++ {
			if err := r.skipLEB(5); err != nil {
				return err
			}
		}
		return nil
	case op == 0x10 || op == 0x12 || op == 0xd2: // call, return_call, ref.func
		return r.skipLEB(5)
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
		if err := r.skipLEB(5); err != nil {
			return err
		}
		return r.skipLEB(5)
	case op == 0x1c: // select with types
		n, err := r.count("types", ^uint32(0))
		if err != nil {
			return err
		}
		return r.skip(int(n))
	case op >= 0x20 && op <= 0x22, op == 0x25, op == 0x26: // local.*, table.get/set
		return r.skipLEB(5)
	case op >= 0x28 && op <= 0x3e: // loads and stores
		return r.memarg()
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		return r.skipLEB(5)
	case op == 0x41: // i32.const
		return r.skipLEB(5)
	case op == 0x42: // i64.const
		return r.skipLEB(10)
	case op == 0x43: // f32.const
		return r.skip(4)
	case op == 0x44: // f64.const
		return r.skip(8)
	case op >= 0x45 && op <= 0xc4: // numeric, sign extension
		return nil
	case op == 0xd0: // ref.null
		return r.skip(1)
	case op == 0xfc:
		return r.miscImmediates()
	case op == 0xfd:
		return r.simdImmediates()
	case op == 0xfe:
		return r.atomicImmediates()
	}
	return errors.New("instruction not supported by instruction metering")
}

// memarg skips alignment (with an optional memory index) and offset.
func (r *reader) memarg() error {
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 { // multi-memory: a memory index follows
		if err := r.skipLEB(5); err != nil {
			return err
		}
	}
	return r.skipLEB(10)
}

// miscImmediates skips the 0xfc-prefixed instructions: saturating
// truncation, bulk memory and table instructions.
func (r *reader) miscImmediates() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 7:
		return nil
	case sub == 8 || sub == 10 || sub == 12 || sub == 14: // two indices
		if err := r.skipLEB(5); err != nil {
			return err
		}
		return r.skipLEB(5)
	case sub <= 17: // one index
		return r.skipLEB(5)
	}
	return fmt.Errorf("0xfc %d: instruction not supported by instruction metering", sub)
}

// simdImmediates skips the 0xfd-prefixed vector instructions.
func (r *reader) simdImmediates() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11 || sub == 92 || sub == 93: // loads and stores
		return r.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		return r.skip(16)
	case sub >= 21 && sub <= 34: // lane extract and replace
		return r.skip(1)
	case sub >= 84 && sub <= 91: // lane loads and stores
		if err := r.memarg(); err != nil {
			return err
		}
		return r.skip(1)
	case sub <= 255:
		return nil
	}
	return fmt.Errorf("0xfd %d: instruction not supported by instruction metering", sub)
}

// atomicImmediates skips the 0xfe-prefixed thread instructions.
func (r *reader) atomicImmediates() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	if sub == 3 { // atomic.fence
		return r.skip(1)
	}
	if sub <= 0x4e {
		return r.memarg()
	}
	return fmt.Errorf("0xfe %d: instruction not supported by instruction metering", sub)
}

// appendS64 appends v as signed LEB128.
func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
