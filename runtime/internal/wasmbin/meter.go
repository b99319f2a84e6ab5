package wasmbin

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// BudgetExport is the name under which Meter exports the budget global.
const BudgetExport = "tokenwire_budget"

// RefuelModule and RefuelName name the host function a metered module
// imports and calls when its budget global goes negative. The host either
// raises the global from what is left of the call's budget, after checking
// the call's deadline, or ends the call by panicking.
const (
	RefuelModule = "tokenwire_meter"
	RefuelName   = "refuel"
)

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
// gets a mutable i64 global, exported as BudgetExport and starting at 0,
// and an import of RefuelModule.RefuelName, of type () -> (). The global
// holds what the call may still spend. When a charge leaves it negative,
// the code calls the refuel function, which raises it or ends the call.
// Every function entry and every loop header is a charge point, which
// charges the number of instructions that can run before the next charge
// point. Any execution that does not end passes through loop headers or
// function entries, so every call calls refuel again within the amount
// the host last added plus fuelReserve.
//
// A function without loops charges its entry on the global (appendCharge).
// A function with at least one loop gets two extra i64 locals: its fuel,
// instructions taken from the global but not yet spent, and a scratch
// local. Its entry charges the entry cost on the global and takes a
// reserve from the global into the fuel local: fuelReserve, or a sixteenth
// of the global when that is less (appendTake). Its loop headers charge
// the fuel local only. When the fuel local goes negative, the code moves
// the overdraft back to the global, takes a new reserve and calls refuel
// if the global is negative.
// Before every way out of the function other than a trap (return,
// return_call, return_call_indirect, a branch to the function's own label
// and the final end) the fuel local goes back to the global. So after a
// call returns, the global has been charged exactly the instructions
// counted at the charge points the call passed, as if every loop header
// charged the global. While calls are active, the global lacks what their
// fuel locals hold. With N functions with loops on the call stack, a call
// can therefore be stopped for an exhausted budget up to N × fuelReserve
// instructions before it has spent its budget. Because each reserve is at
// most a sixteenth of what the global holds, the reserves of nested
// functions cannot take up a small budget by themselves.
//
// A call anywhere inside a loop makes wazero v1.12.0's register allocator
// keep the loop's variables in stack slots, storing and reloading them on
// every iteration. So for a loop without parameters, Meter moves the
// refill and the call of refuel out of the loop into blocks it wraps
// around the loop (see appendSplitOpen), and relabels the branches that
// leave the loop. Around the call it saves the locals the loop writes in
// scratch globals, mutable globals it adds after the budget global, so
// that their values from before the call are not live across it either.
// Loops with parameters refill in place.
//
// The cost charged at a point is the static count of instructions from
// there to the end of the enclosing function or loop body, without the
// bodies of nested loops, which charge for themselves. Both arms of an if
// are counted, so the charge is an upper bound on what runs. The code
// Meter inserts is not counted.
//
// The import is the last function import, so every function the module
// defines moves up one index; Meter renumbers calls, ref.func, exports,
// the start function, element segments and global initializers, and drops
// the "name" custom section rather than renumber it. It decodes every
// instruction and rejects a module whose code it cannot decode, that
// refers to a global it does not define (the index would name the budget
// once rewritten) or that already exports BudgetExport.
func Meter(code []byte) ([]byte, error) {
	return meterModule(code, fuelReserve)
}

// fuelReserve is the most instructions a function with loops takes from
// the budget global at once. Its loop headers touch only a local until it
// has spent them. In BenchmarkCompare on an AMD EPYC, with wazero
// v1.12.0, metering made the scan guest 1.25× slower with a reserve of
// 4,096, which its loop exceeds about four times per call, and 1.01× with
// 65,536, which it never exceeds. So the branch to the refill costs about
// a machine cycle per iteration when it is taken now and then, and close
// to nothing when it never is. A larger reserve lets a call be stopped
// earlier for an exhausted budget (see Meter).
const fuelReserve = 1 << 16

// bulkMemoryShift and bulkTableShift set what the instructions whose work
// grows with a length operand charge beyond their place in the static
// count: the length shifted right by these. memory.fill, memory.copy and
// memory.init charge a unit per 8 bytes, table.fill, table.copy and
// table.init a unit per element. Without the charge, a loop of
// memory.fill over 64 MiB ran about 200,000 fills, hours of memset,
// between two refuels, and so between two checks of its deadline.
const (
	bulkMemoryShift = 3
	bulkTableShift  = 0
)

// ByteCost returns what work on n bytes of memory costs in budget units,
// at the rate of the bulk memory instructions. Host functions whose work
// grows with a guest's length argument charge it, so a guest that loops
// over such a call meets its budget and deadline as one that copies
// memory itself does.
func ByteCost(n int) int64 { return int64(n) >> bulkMemoryShift }

// bulkShift returns the shift for the length of the 0xfc-prefixed
// instruction sub, and false when its work does not grow with a length.
func bulkShift(sub uint32) (int64, bool) {
	switch sub {
	case 8, 10, 11: // memory.init, memory.copy, memory.fill
		return bulkMemoryShift, true
	case 12, 14, 17: // table.init, table.copy, table.fill
		return bulkTableShift, true
	}
	return 0, false
}

// meterModule is Meter with the fuel reserve as a parameter. A reserve of
// 0 charges loop headers on the global as function entries are, so tests
// can compare the two schemes.
func meterModule(code []byte, reserve int64) ([]byte, error) {
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

	m := meter{reserve: reserve}
	var definedGlobals uint32
	for _, s := range sections {
		r := &reader{b: s.contents(code), section: s.id}
		var err error
		switch s.id {
		case sectionType:
			m.typeParams, err = r.typeParams()
		case sectionFunction:
			m.funcTypes, err = r.funcTypes()
		case sectionImport:
			m.importedGlobals, m.importedFuncs, err = r.importCounts()
		case sectionGlobal:
			definedGlobals, err = r.count("globals", ^uint32(0))
		}
		if err != nil {
			return nil, err
		}
	}
	for i, t := range m.funcTypes {
		if t >= uint32(len(m.typeParams)) {
			return nil, fmt.Errorf("%w: function %d has type %d, which the module does not define", ErrMalformed, i, t)
		}
	}
	m.budget = m.importedGlobals + definedGlobals
	if m.budget < m.importedGlobals {
		return nil, fmt.Errorf("%w: global count overflows", ErrMalformed)
	}
	// The code goes first because it decides the scratch globals.
	var codeOut []byte
	for _, s := range sections {
		if s.id == sectionCode {
			var err error
			if codeOut, err = m.code(s.contents(code)); err != nil {
				return nil, err
			}
		}
	}

	out := make([]byte, 0, len(code)+len(code)/4+128)
	out = append(out, header...)
	emit := func(id byte, contents []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(contents)))
		out = append(out, contents...)
	}
	// added lists the sections Meter adds to or creates, in order.
	added := []struct {
		id   byte
		done bool
		edit func(contents []byte) ([]byte, error)
	}{
		{sectionType, false, func(b []byte) ([]byte, error) { return appendRefuelType(b) }},
		{sectionImport, false, func(b []byte) ([]byte, error) { return appendRefuelImport(b, uint32(len(m.typeParams))) }},
		{sectionGlobal, false, m.globals},
		{sectionExport, false, m.exports},
	}
	for _, s := range sections {
		if s.id == sectionCustom && isNameSection(s.contents(code)) {
			continue
		}
		for i := range added {
			a := &added[i]
			if a.done || s.id == sectionCustom || sectionOrder(s.id) < sectionOrder(a.id) {
				continue
			}
			contents := []byte(nil)
			if s.id == a.id {
				contents = s.contents(code)
			}
			edited, err := a.edit(contents)
			if err != nil {
				return nil, err
			}
			emit(a.id, edited)
			a.done = true
		}
		var edited []byte
		var err error
		switch s.id {
		case sectionType, sectionImport, sectionGlobal, sectionExport:
			continue // written above
		case sectionStart:
			edited, err = m.start(s.contents(code))
		case sectionElement:
			edited, err = m.elements(s.contents(code))
		case sectionCode:
			edited = codeOut
		default:
			out = append(out, code[s.offset:s.end]...)
			continue
		}
		if err != nil {
			return nil, err
		}
		emit(s.id, edited)
	}
	for _, a := range added {
		if !a.done {
			edited, err := a.edit(nil)
			if err != nil {
				return nil, err
			}
			emit(a.id, edited)
		}
	}
	return out, nil
}

// isNameSection reports whether a custom section's contents are the
// "name" section.
func isNameSection(b []byte) bool {
	n, size, err := readU32(b)
	return err == nil && n == 4 && len(b) >= size+4 && string(b[size:size+4]) == "name"
}

// importCounts reads the import section and returns how many globals and
// functions it imports.
func (r *reader) importCounts() (globals, funcs uint32, err error) {
	var counts [5]uint32
	if err := r.imports(^uint32(0), &counts); err != nil {
		return 0, 0, err
	}
	return counts[0x03], counts[0x00], nil
}

// typeParams reads the type section and returns the parameter types of
// each function type, one byte each (see valTypes).
func (r *reader) typeParams() ([][]byte, error) {
	n, err := r.count("types", ^uint32(0))
	if err != nil {
		return nil, err
	}
	params := make([][]byte, n)
	for i := range params {
		if form, err := r.byte(); err != nil || form != 0x60 {
			return nil, r.malformed("type %d is not a function type", i)
		}
		if params[i], err = r.valTypes(); err != nil {
			return nil, r.malformed("type %d parameters: %v", i, err)
		}
		if _, err := r.valTypes(); err != nil {
			return nil, r.malformed("type %d results: %v", i, err)
		}
	}
	return params, nil
}

// valTypes reads a vector of value types and returns each as its one-byte
// code, or as 0 for a typed reference.
func (r *reader) valTypes() ([]byte, error) {
	n, err := r.count("value types", ^uint32(0))
	if err != nil {
		return nil, err
	}
	types := make([]byte, n)
	for i := range types {
		b, err := r.byte()
		if err != nil {
			return nil, err
		}
		if b == 0x63 || b == 0x64 {
			if err := r.skipLEB(5); err != nil {
				return nil, err
			}
			b = 0
		}
		types[i] = b
	}
	return types, nil
}

// funcTypes reads the function section: the type index of each function
// the module defines.
func (r *reader) funcTypes() ([]uint32, error) {
	n, err := r.count("functions", ^uint32(0))
	if err != nil {
		return nil, err
	}
	types := make([]uint32, n)
	for i := range types {
		if types[i], err = r.u32(); err != nil {
			return nil, r.malformed("function %d type: %v", i, err)
		}
	}
	return types, nil
}

// appendRefuelType returns the type section with () -> () added at its end.
func appendRefuelType(section []byte) ([]byte, error) {
	return appendEntry(section, sectionType, []byte{0x60, 0x00, 0x00})
}

// appendRefuelImport returns the import section with the refuel function,
// of type typeIndex, added at its end.
func appendRefuelImport(section []byte, typeIndex uint32) ([]byte, error) {
	entry := appendU32(nil, uint32(len(RefuelModule)))
	entry = append(entry, RefuelModule...)
	entry = appendU32(entry, uint32(len(RefuelName)))
	entry = append(entry, RefuelName...)
	entry = append(entry, 0x00)
	return appendEntry(section, sectionImport, appendU32(entry, typeIndex))
}

// appendEntry returns a vector section with entry added at its end.
func appendEntry(section []byte, id byte, entry []byte) ([]byte, error) {
	var count uint32
	rest := section
	if section != nil {
		r := &reader{b: section, section: id}
		var err error
		if count, err = r.count("entries", ^uint32(0)); err != nil {
			return nil, err
		}
		rest = r.b
	}
	out := appendU32(nil, count+1)
	out = append(out, rest...)
	return append(out, entry...), nil
}

// globals returns the global section with every initializer renumbered and
// the budget global, (mut i64) (i64.const 0), and the scratch globals
// added at its end.
func (m *meter) globals(section []byte) ([]byte, error) {
	var out []byte
	var count uint32
	if section != nil {
		r := &reader{b: section, section: sectionGlobal}
		var err error
		if count, err = r.count("globals", ^uint32(0)); err != nil {
			return nil, err
		}
		for i := uint32(0); i < count; i++ {
			typ := r.b
			if err := r.valType(); err != nil {
				return nil, r.malformed("global %d type: %v", i, err)
			}
			if err := r.skip(1); err != nil { // mutability
				return nil, r.malformed("global %d is cut short", i)
			}
			out = append(out, typ[:len(typ)-len(r.b)]...)
			if out, err = m.constExpr(r, out); err != nil {
				return nil, r.malformed("global %d: %v", i, err)
			}
		}
		if len(r.b) != 0 {
			return nil, r.malformed("%d bytes after the last global", len(r.b))
		}
	}
	out = append(out, 0x7e, 0x01, 0x42, 0x00, 0x0b)
	for _, typ := range m.scratchTypes {
		out = append(out, typ, 0x01)
		out = append(out, zeroValue(typ)...)
		out = append(out, 0x0b)
	}
	count += 1 + uint32(len(m.scratchTypes))
	return append(appendU32(nil, count), out...), nil
}

// zeroValue returns a constant instruction that pushes the zero value of
// type typ.
func zeroValue(typ byte) []byte {
	switch typ {
	case 0x7f:
		return []byte{0x41, 0x00}
	case 0x7e:
		return []byte{0x42, 0x00}
	case 0x7d:
		return []byte{0x43, 0, 0, 0, 0}
	case 0x7c:
		return []byte{0x44, 0, 0, 0, 0, 0, 0, 0, 0}
	case 0x7b:
		return append([]byte{0xfd, 0x0c}, make([]byte, 16)...)
	}
	return []byte{0xd0, typ} // ref.null
}

// exports returns the export section with function indices renumbered and
// the budget global exported as BudgetExport.
func (m *meter) exports(section []byte) ([]byte, error) {
	var count uint32
	out := []byte(nil)
	if section != nil {
		r := &reader{b: section, section: sectionExport}
		var err error
		if count, err = r.count("exports", ^uint32(0)); err != nil {
			return nil, err
		}
		for i := uint32(0); i < count; i++ {
			length, err := r.u32()
			if err != nil || uint64(length) > uint64(len(r.b)) || len(r.b) < int(length)+1 {
				return nil, r.malformed("export %d name runs past the section", i)
			}
			name := r.b[:length]
			if string(name) == BudgetExport {
				return nil, fmt.Errorf("module exports %q, a name the host reserves for the instruction budget", BudgetExport)
			}
			kind := r.b[length]
			r.b = r.b[length+1:]
			index, err := r.u32()
			if err != nil {
				return nil, r.malformed("export %d index: %v", i, err)
			}
			out = appendU32(out, length)
			out = append(out, name...)
			out = append(out, kind)
			if kind == 0x00 {
				if index, err = m.function(index); err != nil {
					return nil, r.malformed("export %d: %v", i, err)
				}
			}
			if kind == 0x03 && index >= m.budget {
				return nil, r.malformed("export %d refers to global %d, which the module does not define", i, index)
			}
			out = appendU32(out, index)
		}
		if len(r.b) != 0 {
			return nil, r.malformed("%d bytes after the last export", len(r.b))
		}
	}
	out = appendU32(out, uint32(len(BudgetExport)))
	out = append(out, BudgetExport...)
	out = append(out, 0x03) // global
	out = appendU32(out, m.budget)
	return append(appendU32(nil, count+1), out...), nil
}

// start returns the start section with its function renumbered.
func (m *meter) start(section []byte) ([]byte, error) {
	index, n, err := readU32(section)
	if err != nil || n != len(section) {
		return nil, fmt.Errorf("%w: start section is not one function index", ErrMalformed)
	}
	if index, err = m.function(index); err != nil {
		return nil, fmt.Errorf("%w: start section %v", ErrMalformed, err)
	}
	return appendU32(nil, index), nil
}

// elements returns the element section with every function index and
// every initializer expression renumbered.
func (m *meter) elements(section []byte) ([]byte, error) {
	r := &reader{b: section, section: sectionElement}
	count, err := r.count("element segments", ^uint32(0))
	if err != nil {
		return nil, err
	}
	out := appendU32(nil, count)
	for i := uint32(0); i < count; i++ {
		flags, err := r.u32()
		if err != nil || flags > 7 {
			return nil, r.malformed("element segment %d has flags %d", i, flags)
		}
		out = appendU32(out, flags)
		if flags&0x02 != 0 && flags&0x01 == 0 { // explicit table index
			table, err := r.u32()
			if err != nil {
				return nil, r.malformed("element segment %d table: %v", i, err)
			}
			out = appendU32(out, table)
		}
		if flags&0x01 == 0 { // active: offset expression
			if out, err = m.constExpr(r, out); err != nil {
				return nil, r.malformed("element segment %d offset: %v", i, err)
			}
		}
		if flags&0x03 != 0 { // element kind or reference type
			if len(r.b) == 0 {
				return nil, r.malformed("element segment %d is cut short", i)
			}
			out = append(out, r.b[0])
			r.b = r.b[1:]
		}
		n, err := r.count("elements", ^uint32(0))
		if err != nil {
			return nil, err
		}
		out = appendU32(out, n)
		for j := uint32(0); j < n; j++ {
			if flags&0x04 != 0 {
				out, err = m.constExpr(r, out)
			} else {
				var index uint32
				if index, err = r.u32(); err == nil {
					if index, err = m.function(index); err == nil {
						out = appendU32(out, index)
					}
				}
			}
			if err != nil {
				return nil, r.malformed("element segment %d entry %d: %v", i, j, err)
			}
		}
	}
	if len(r.b) != 0 {
		return nil, r.malformed("%d bytes after the last element segment", len(r.b))
	}
	return out, nil
}

// constExpr copies a constant expression from r to out, renumbering
// ref.func.
func (m *meter) constExpr(r *reader, out []byte) ([]byte, error) {
	for {
		before := r.b
		op, err := r.byte()
		if err != nil {
			return nil, errors.New("constant expression has no end")
		}
		if op == 0xd2 { // ref.func
			index, err := r.u32()
			if err != nil {
				return nil, err
			}
			if index, err = m.function(index); err != nil {
				return nil, err
			}
			out = append(out, op)
			out = appendU32(out, index)
			continue
		}
		r.b = before
		single := *r
		if err := single.constExprStep(); err != nil {
			return nil, err
		}
		out = append(out, before[:len(before)-len(single.b)]...)
		r.b = single.b
		if op == 0x0b {
			return out, nil
		}
	}
}

// function maps a function index of the original module to the metered
// module's: the refuel import takes the index after the last import.
//
// An index past the module's functions is rejected, because index + 1
// could wrap to the refuel import and wazero validates only the
// renumbered module.
func (m *meter) function(index uint32) (uint32, error) {
	if uint64(index) >= uint64(m.importedFuncs)+uint64(len(m.funcTypes)) {
		return 0, fmt.Errorf("refers to function %d, which the module does not define or import", index)
	}
	if index >= m.importedFuncs {
		return index + 1, nil
	}
	return index, nil
}

// code rewrites every function body of a code section.
func (m *meter) code(section []byte) ([]byte, error) {
	r := &reader{b: section, section: sectionCode}
	n, err := r.count("functions", ^uint32(0))
	if err != nil {
		return nil, err
	}
	out := appendU32(make([]byte, 0, len(section)+len(section)/4), n)
	for i := uint32(0); i < n; i++ {
		size, err := r.u32()
		if err != nil || uint64(size) > uint64(len(r.b)) {
			return nil, r.malformed("function %d body runs past the section", i)
		}
		body, err := m.body(i, r.b[:size])
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

// meter holds what the rewrite needs to know about the module, and
// buffers it reuses from one function body to the next.
type meter struct {
	importedGlobals uint32
	importedFuncs   uint32   // also the refuel function's index
	budget          uint32   // the budget global's index
	typeParams      [][]byte // parameter types of each function type (see valTypes)
	funcTypes       []uint32 // type index of each function the module defines
	reserve         int64    // fuelReserve, or 0 to charge loops on the global

	// Scratch globals, which split loops save locals in around the call
	// of refuel: the index of each by type and number within one loop,
	// and the type of each in index order.
	scratch      map[scratchKey]uint32
	scratchTypes []byte

	params     []byte       // parameter types of the function being read, nil if it has no valid type
	locals     []localGroup // its local declarations
	localCount uint64       // its parameters and declared locals
	edits      []edit
	stack      []block  // the open blocks, the function's own block first
	loops      int      // loop headers in the current body
	labels     []byte   // re-encoded branch labels that editLabels refer to
	writes     []uint32 // the locals local.set and local.tee write, in order
	saves      []uint32 // pairs of a local and the scratch global that saves it
	sorted     []uint32
	out        []byte
}

// block is an open block, loop or if of the body being read.
type block struct {
	charge int // index into edits of the charge point its instructions count towards
	split  int // split loops among this block and the blocks enclosing it
	writes int // len(writes) when the block opened
}

// localGroup is one local declaration: locals up to end, of type typ.
type localGroup struct {
	end uint64
	typ byte
}

type scratchKey struct {
	typ byte
	n   int
}

// splitLabels is how many labels a split loop adds around the loop:
// $exit, $outer and $slow (see appendSplitOpen).
const splitLabels = 3

// editKind is the change an edit makes to a function body.
type editKind uint8

const (
	editCharge       editKind = iota // charge cost at the function entry or at a loop header in place
	editIndex                        // replace the bytes up to end by function index index
	editLabels                       // replace the bytes up to end by labels[from:to]
	editRefund                       // return the fuel local to the global before leaving the function
	editRefundBranch                 // the same before a branch that may not leave, which also zeroes the fuel local
	editSplitOpen                    // open the blocks around a split loop, whose block type is body[from:to]
	editSplitCharge                  // charge cost at the header of a split loop
	editSplitClose                   // close the blocks around the split loop charged at edits[from]
	editBulk                         // charge the length operand shifted right by cost on the global
)

// edit is one change to a function body at offset. Every edit other than
// editCharge and editIndex applies only to functions with a fuel local.
type edit struct {
	kind             editKind
	offset, end      int
	from, to         int
	saveFrom, saveTo int // editSplitClose: the range of saves
	cost             int64
	index            uint32
}

// body returns the body of defined function fn with charges and refunds
// inserted and function indices renumbered.
func (m *meter) body(fn uint32, body []byte) ([]byte, error) {
	r := &reader{b: body, section: sectionCode}
	groups, err := r.u32()
	if err != nil {
		return nil, fmt.Errorf("local declarations: %v", err)
	}
	declsStart := len(body) - len(r.b)
	m.params = nil
	if fn < uint32(len(m.funcTypes)) && m.funcTypes[fn] < uint32(len(m.typeParams)) {
		m.params = m.typeParams[m.funcTypes[fn]]
	}
	locals := uint64(0)
	m.locals = m.locals[:0]
	for g := uint32(0); g < groups; g++ {
		n, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("local declarations: %v", err)
		}
		if len(r.b) == 0 {
			return nil, errors.New("local declarations: missing type")
		}
		locals += uint64(n)
		typ := r.b[0]
		if typ == 0x63 || typ == 0x64 {
			typ = 0
		}
		m.locals = append(m.locals, localGroup{end: uint64(len(m.params)) + locals, typ: typ})
		if err := r.valType(); err != nil {
			return nil, fmt.Errorf("local declarations: %v", err)
		}
	}
	m.localCount = uint64(len(m.params)) + locals
	codeStart := len(body) - len(r.b)
	m.edits = append(m.edits[:0], edit{kind: editCharge, offset: codeStart})
	m.stack = append(m.stack[:0], block{})
	m.loops = 0
	m.labels = m.labels[:0]
	m.writes = m.writes[:0]
	m.saves = m.saves[:0]
	for len(m.stack) > 0 {
		if len(r.b) == 0 {
			return nil, errors.New("body ends inside a block")
		}
		op := r.b[0]
		r.b = r.b[1:]
		m.edits[m.stack[len(m.stack)-1].charge].cost++
		if err := m.instruction(r, op, len(body)); err != nil {
			return nil, fmt.Errorf("opcode 0x%02x at offset %d: %v", op, len(body)-len(r.b)-1, err)
		}
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d bytes after the function's end", len(r.b))
	}

	out := m.out[:0]
	last := 0
	fuel := uint32(0) // the fuel local's index, when useFuel
	useFuel := m.loops > 0 && m.reserve > 0
	if useFuel {
		if fn >= uint32(len(m.funcTypes)) || m.funcTypes[fn] >= uint32(len(m.typeParams)) {
			return nil, errors.New("function has no valid type in the function section")
		}
		index := uint64(len(m.params)) + locals
		if index >= 1<<32-2 {
			return nil, fmt.Errorf("declares %d locals, too many to add the fuel locals", locals)
		}
		fuel = uint32(index)
		out = appendU32(out, groups+1)
		out = append(out, body[declsStart:codeStart]...)
		out = append(out, 0x02, 0x7e) // 2 x i64: the fuel local and appendTake's scratch
		last = codeStart
	}
	for i, e := range m.edits {
		out = append(out, body[last:e.offset]...)
		last = e.offset
		switch {
		case e.kind == editIndex:
			out = appendU32(out, e.index)
			last = e.end
		case e.kind == editLabels:
			out = append(out, m.labels[e.from:e.to]...)
			last = e.end
		case e.kind == editCharge && !useFuel:
			out = m.appendCharge(out, e.cost)
		case e.kind == editCharge && i == 0:
			out = m.appendEntryCharge(out, e.cost, fuel)
		case e.kind == editCharge:
			out = m.appendLoopCharge(out, e.cost, fuel)
		case e.kind == editSplitOpen:
			out = appendSplitOpen(out, body[e.from:e.to])
		case e.kind == editSplitCharge:
			out = appendSplitCharge(out, e.cost, fuel)
		case e.kind == editSplitClose:
			out = m.appendSplitClose(out, m.edits[e.from].cost, fuel, m.saves[e.saveFrom:e.saveTo])
		case e.kind == editBulk:
			out = m.appendBulkCharge(out, e.cost)
		case useFuel:
			out = m.appendRefund(out, fuel, e.kind == editRefundBranch)
		}
	}
	out = append(out, body[last:]...)
	m.out = out
	return out, nil
}

// appendCharge appends the code that charges cost on the budget global, at
// the entry of a function without a fuel local:
//
//	global.get $budget
//	i64.const cost
//	i64.sub
//	global.set $budget
//	global.get $budget
//	i64.const 0
//	i64.lt_s
//	if
//	  call $refuel
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
	out = append(out, 0x42, 0x00, 0x53, 0x04, 0x40, 0x10)
	out = appendU32(out, m.importedFuncs)
	return append(out, 0x0b)
}

// appendBulkCharge appends the code that charges the length operand of a
// bulk memory or table instruction, an i32 on top of the operand stack,
// shifted right by shift on the budget global. It keeps the length in a
// scratch global while it charges:
//
//	global.set $length
//	global.get $budget
//	global.get $length
//	i64.extend_i32_u
//	i64.const shift
//	i64.shr_u
//	i64.sub
//	global.set $budget
//	(global.get $budget, i64.const 0, i64.lt_s, if call $refuel end)
//	global.get $length
func (m *meter) appendBulkCharge(out []byte, shift int64) []byte {
	length := m.scratchGlobal(scratchKey{typ: 0x7f, n: -1})
	out = appendOp(out, 0x24, length)
	out = appendOp(out, 0x23, m.budget)
	out = appendOp(out, 0x23, length)
	out = append(out, 0xad, 0x42)
	out = appendS64(out, shift)
	out = append(out, 0x88, 0x7d)
	out = appendOp(out, 0x24, m.budget)
	out = appendOp(out, 0x23, m.budget)
	out = append(out, 0x42, 0x00, 0x53, 0x04, 0x40)
	out = appendOp(out, 0x10, m.importedFuncs)
	out = append(out, 0x0b)
	return appendOp(out, 0x23, length)
}

// appendEntryCharge appends the entry charge of a function with a fuel
// local, which charges cost on the global and takes a reserve from it into
// the fuel local:
//
//	global.get $budget
//	i64.const cost
//	i64.sub
//	(appendTake)
func (m *meter) appendEntryCharge(out []byte, cost int64, fuel uint32) []byte {
	out = append(out, 0x23)
	out = appendU32(out, m.budget)
	out = append(out, 0x42)
	out = appendS64(out, cost)
	out = append(out, 0x7d)
	return m.appendTake(out, 0, fuel, nil)
}

// appendLoopCharge appends the charge at the header of a loop that takes
// parameters, which Meter does not split. It charges cost on the fuel
// local, and when that goes negative, refills it:
//
//	(appendFuelCharge)
//	if
//	  (appendRefill)
//	end
func (m *meter) appendLoopCharge(out []byte, cost int64, fuel uint32) []byte {
	out = appendFuelCharge(out, cost, fuel)
	out = append(out, 0x04, 0x40) // if
	out = m.appendRefill(out, 0, fuel, nil)
	return append(out, 0x0b)
}

// appendFuelCharge appends the code that subtracts cost from the fuel
// local and pushes whether it went negative:
//
//	local.get $fuel
//	i64.const cost
//	i64.sub
//	local.tee $fuel
//	i64.const 0
//	i64.lt_s
func appendFuelCharge(out []byte, cost int64, fuel uint32) []byte {
	out = append(out, 0x20)
	out = appendU32(out, fuel)
	out = append(out, 0x42)
	out = appendS64(out, cost)
	out = append(out, 0x7d, 0x22)
	out = appendU32(out, fuel)
	return append(out, 0x42, 0x00, 0x53)
}

// appendRefill appends the code that moves the fuel local, negative after
// a loop header's charge, into the global and takes a new reserve plus
// extra from the global into the fuel local:
//
//	global.get $budget
//	local.get $fuel
//	i64.add
//	(appendTake)
func (m *meter) appendRefill(out []byte, extra int64, fuel uint32, saves []uint32) []byte {
	out = append(out, 0x23)
	out = appendU32(out, m.budget)
	out = append(out, 0x20)
	out = appendU32(out, fuel)
	out = append(out, 0x7c)
	return m.appendTake(out, extra, fuel, saves)
}

// appendTake appends the code that takes a reserve out of x, the i64 on
// the operand stack, which is what the global holds after the charge. The
// reserve is m.reserve while x is at least 16 times that, and otherwise
// x/16 but at least 0, so that nested functions with loops cannot lock up
// a small budget in their fuel locals. The global becomes x minus the
// reserve and the fuel local the reserve plus extra; refuel is called if
// the global is negative. The local after the fuel local, $x, serves as
// scratch. Each pair of saves is a local and a scratch global that holds
// it during the call, so that the local's value before the call is not
// live across it:
//
//	local.tee $x
//	i64.const 16*reserve
//	i64.lt_s
//	if (result i64)
//	  local.get $x
//	  i64.const 4
//	  i64.shr_s
//	  local.tee $fuel
//	  i64.const 0
//	  local.get $fuel
//	  i64.const 0
//	  i64.gt_s
//	  select                        ;; max(x/16, 0)
//	else
//	  i64.const reserve
//	end
//	local.set $fuel
//	local.get $x
//	local.get $fuel
//	i64.sub
//	local.tee $x
//	global.set $budget
//	local.get $x
//	i64.const 0
//	i64.lt_s
//	if
//	  (local.get $local, global.set $scratch for each pair)
//	  call $refuel
//	  (global.get $scratch, local.set $local for each pair)
//	end
//	local.get $fuel                 ;; when extra is not 0
//	i64.const extra
//	i64.add
//	local.set $fuel
func (m *meter) appendTake(out []byte, extra int64, fuel uint32, saves []uint32) []byte {
	x := fuel + 1
	out = appendOp(out, 0x22, x)
	out = append(out, 0x42)
	out = appendS64(out, 16*m.reserve)
	out = append(out, 0x53, 0x04, 0x7e) // i64.lt_s, if (result i64)
	out = appendOp(out, 0x20, x)
	out = append(out, 0x42, 0x04, 0x87) // i64.const 4, i64.shr_s
	out = appendOp(out, 0x22, fuel)
	out = append(out, 0x42, 0x00)
	out = appendOp(out, 0x20, fuel)
	out = append(out, 0x42, 0x00, 0x55, 0x1b, 0x05, 0x42) // i64.gt_s, select, else, i64.const
	out = appendS64(out, m.reserve)
	out = append(out, 0x0b)
	out = appendOp(out, 0x21, fuel)

	out = appendOp(out, 0x20, x)
	out = appendOp(out, 0x20, fuel)
	out = append(out, 0x7d)
	out = appendOp(out, 0x22, x)
	out = appendOp(out, 0x24, m.budget)
	out = appendOp(out, 0x20, x)

	out = append(out, 0x42, 0x00, 0x53, 0x04, 0x40)
	for i := 0; i < len(saves); i += 2 {
		out = appendOp(out, 0x20, saves[i])
		out = appendOp(out, 0x24, saves[i+1])
	}
	out = appendOp(out, 0x10, m.importedFuncs)
	for i := 0; i < len(saves); i += 2 {
		out = appendOp(out, 0x23, saves[i+1])
		out = appendOp(out, 0x21, saves[i])
	}
	out = append(out, 0x0b)

	if extra != 0 {
		out = appendOp(out, 0x20, fuel)
		out = append(out, 0x42)
		out = appendS64(out, extra)
		out = append(out, 0x7c)
		out = appendOp(out, 0x21, fuel)
	}
	return out
}

// appendOp appends op with its one index immediate: a local, global or
// call instruction.
func appendOp(out []byte, op byte, index uint32) []byte {
	return appendU32(append(out, op), index)
}

// appendSplitOpen appends the blocks Meter opens around a split loop: a
// loop without parameters, of block type bt, whose refill and call of
// refuel run outside it (see Meter for why). The branches inside the loop
// that leave it are relabeled past the three blocks:
//
//	block bt              ;; $exit, the loop's own block type
//	  loop                ;; $outer
//	    block             ;; $slow
//	      loop bt         ;; the original loop
//	        (appendSplitCharge: br_if $slow when the fuel local is spent)
//	        ...
//	      end
//	      br $exit
//	    end
//	    (appendSplitClose: refill, then br $outer to charge the header again)
//	  end
//	  unreachable
//	end
func appendSplitOpen(out []byte, bt []byte) []byte {
	out = append(out, 0x02)
	out = append(out, bt...)
	return append(out, 0x03, 0x40, 0x02, 0x40)
}

// appendSplitCharge appends the charge at a split loop's header, which
// leaves the loop for $slow when the fuel local goes negative:
//
//	(appendFuelCharge)
//	br_if $slow
func appendSplitCharge(out []byte, cost int64, fuel uint32) []byte {
	out = appendFuelCharge(out, cost, fuel)
	return append(out, 0x0d, 0x01)
}

// appendSplitClose appends the code after a split loop, whose header
// charges cost. The refill leaves cost more in the fuel local than a loop
// header in place would, because the header then charges the same
// iteration again:
//
//	  br $exit
//	end
//	(appendRefill, adding cost to the fuel local and saving the locals
//	 the loop writes)
//	br $outer
//	end
//	unreachable
//	end
func (m *meter) appendSplitClose(out []byte, cost int64, fuel uint32, saves []uint32) []byte {
	out = append(out, 0x0c, 0x02, 0x0b)
	out = m.appendRefill(out, cost, fuel, saves)
	return append(out, 0x0c, 0x00, 0x0b, 0x00, 0x0b)
}

// appendRefund appends the code that adds the fuel local to the global.
// Before a branch that may continue in the function, it also zeroes the
// fuel local so the fuel is not counted twice:
//
//	global.get $budget
//	local.get $fuel
//	i64.add
//	global.set $budget
//	i64.const 0      (zero only)
//	local.set $fuel  (zero only)
func (m *meter) appendRefund(out []byte, fuel uint32, zero bool) []byte {
	out = append(out, 0x23)
	out = appendU32(out, m.budget)
	out = append(out, 0x20)
	out = appendU32(out, fuel)
	out = append(out, 0x7c, 0x24)
	out = appendU32(out, m.budget)
	if zero {
		out = append(out, 0x42, 0x00, 0x21)
		out = appendU32(out, fuel)
	}
	return out
}

// instruction reads the immediates of op, tracks blocks and records the
// edits op needs. These are a charge point after each loop header, the
// blocks around a split loop, a renumbered function index or branch label,
// and a refund before each way out of the function. bodyLen converts
// positions in r to offsets in the body.
func (m *meter) instruction(r *reader, op byte, bodyLen int) error {
	offset := bodyLen - len(r.b) // after op
	top := m.stack[len(m.stack)-1]
	switch {
	case op == 0x02 || op == 0x04: // block, if
		m.stack = append(m.stack, block{charge: top.charge, split: top.split})
		return m.blockType(r)
	case op == 0x03: // loop
		return m.loop(r, offset, bodyLen)
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
		if op == 0x13 {
			m.refund(offset-1, editRefund)
		}
		if err := m.checkType(r.b); err != nil {
			return err
		}
		if err := r.skipLEB(5); err != nil {
			return err
		}
		return r.skipLEB(5)
	case op == 0x10 || op == 0x12 || op == 0xd2: // call, return_call, ref.func
		if op == 0x12 {
			m.refund(offset-1, editRefund)
		}
		index, err := r.u32()
		if err != nil {
			return err
		}
		if index, err = m.function(index); err != nil {
			return err
		}
		m.edits = append(m.edits, edit{kind: editIndex, offset: offset, end: bodyLen - len(r.b), index: index})
		return nil
	case op == 0x0f: // return
		m.refund(offset-1, editRefund)
	case op == 0x0c || op == 0x0d || op == 0x0e: // br, br_if, br_table
		return m.branch(r, op, offset, bodyLen)
	case op == 0x0b: // end
		if len(m.stack) == 1 {
			m.refund(offset-1, editRefund)
		}
		m.stack = m.stack[:len(m.stack)-1]
		if len(m.stack) > 0 && top.split > m.stack[len(m.stack)-1].split {
			from := len(m.saves)
			m.save(m.writes[top.writes:])
			m.edits = append(m.edits, edit{kind: editSplitClose, offset: offset, from: top.charge, saveFrom: from, saveTo: len(m.saves)})
		}
		return nil
	case op >= 0x20 && op <= 0x22: // local.get, local.set, local.tee
		index, err := r.u32()
		if err != nil {
			return err
		}
		// The added fuel locals take the indices after the function's own,
		// so an index past them, invalid before the rewrite, would let the
		// guest read or set its own fuel afterwards.
		if uint64(index) >= m.localCount {
			return fmt.Errorf("refers to local %d, but the function has %d locals", index, m.localCount)
		}
		if op != 0x20 {
			m.writes = append(m.writes, index)
		}
		return nil
	case op == 0xfc:
		if sub, _, err := readU32(r.b); err == nil {
			if shift, ok := bulkShift(sub); ok {
				m.edits = append(m.edits, edit{kind: editBulk, offset: offset - 1, cost: shift})
			}
		}
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

// loop reads a loop's block type and records its charge point, split when
// the loop takes no parameters and the function gets a fuel local.
func (m *meter) loop(r *reader, offset, bodyLen int) error {
	bt := r.b
	if err := m.blockType(r); err != nil {
		return err
	}
	bt = bt[:len(bt)-len(r.b)]
	m.loops++
	split := m.stack[len(m.stack)-1].split
	kind := editCharge
	if m.reserve > 0 && m.blockParams(bt) == 0 {
		m.edits = append(m.edits, edit{kind: editSplitOpen, offset: offset - 1, from: offset, to: offset + len(bt)})
		kind = editSplitCharge
		split++
	}
	m.edits = append(m.edits, edit{kind: kind, offset: offset + len(bt)})
	m.stack = append(m.stack, block{charge: len(m.edits) - 1, split: split, writes: len(m.writes)})
	return nil
}

// save records, for each local in written, a scratch global of its type to
// save it in. The i-th local of a type gets the i-th scratch global of that
// type. Locals of a typed reference type are left out, because a global
// cannot default to one.
func (m *meter) save(written []uint32) {
	m.sorted = slices.Compact(slices.Sorted(slices.Values(written)))
	var n [256]int
	for _, local := range m.sorted {
		typ := m.localType(local)
		if typ == 0 {
			continue
		}
		key := scratchKey{typ, n[typ]}
		n[typ]++
		m.saves = append(m.saves, local, m.scratchGlobal(key))
	}
}

// scratchGlobal returns the index of the scratch global for key, adding
// it when the module has none yet. Split loops use keys from 0 on;
// appendBulkCharge uses an i32 with key -1.
func (m *meter) scratchGlobal(key scratchKey) uint32 {
	global, ok := m.scratch[key]
	if !ok {
		global = m.budget + 1 + uint32(len(m.scratchTypes))
		m.scratchTypes = append(m.scratchTypes, key.typ)
		if m.scratch == nil {
			m.scratch = make(map[scratchKey]uint32)
		}
		m.scratch[key] = global
	}
	return global
}

// localType returns the type of a local of the function being read, or 0
// for a typed reference or an index out of range.
func (m *meter) localType(local uint32) byte {
	if uint64(local) < uint64(len(m.params)) {
		return m.params[local]
	}
	i, _ := slices.BinarySearchFunc(m.locals, uint64(local), func(g localGroup, local uint64) int {
		return cmp.Compare(g.end, local+1)
	})
	if i == len(m.locals) {
		return 0
	}
	return m.locals[i].typ
}

// blockType reads a block type and rejects a type index past the
// module's own types, which would name the refuel type once rewritten.
func (m *meter) blockType(r *reader) error {
	bt := r.b
	if err := r.blockType(); err != nil {
		return err
	}
	if bt[0]&0xc0 != 0x40 { // a non-negative s33: a type index
		return m.checkType(bt)
	}
	return nil
}

// checkType reads a type index at the start of b and rejects one past the
// module's own types.
func (m *meter) checkType(b []byte) error {
	index, _, err := readU32(b)
	if err != nil {
		return err
	}
	if index >= uint32(len(m.typeParams)) {
		return fmt.Errorf("refers to type %d, which the module does not define", index)
	}
	return nil
}

// blockParams returns the number of parameters of block type bt, or -1
// when bt names a type that does not exist.
func (m *meter) blockParams(bt []byte) int {
	if bt[0]&0xc0 == 0x40 {
		return 0 // a negative s33: empty, or one value type
	}
	index, _, err := readU32(bt)
	if err != nil || index >= uint32(len(m.typeParams)) {
		return -1
	}
	return len(m.typeParams[index])
}

// branch reads the labels of br, br_if or br_table, relabels them past
// the blocks around split loops and records a refund when a label is the
// function's own.
func (m *meter) branch(r *reader, op byte, offset, bodyLen int) error {
	n := uint32(0) // labels besides the default of br_table
	if op == 0x0e {
		var err error
		if n, err = r.count("labels", ^uint32(0)); err != nil {
			return err
		}
	}
	start := len(m.labels)
	if op == 0x0e {
		m.labels = appendU32(m.labels, n)
	}
	relabeled, leaves := false, false
	for i := uint32(0); i <= n; i++ {
		label, err := r.u32()
		if err != nil {
			return err
		}
		if label >= uint32(len(m.stack)) {
			return fmt.Errorf("branch to label %d inside %d blocks", label, len(m.stack))
		}
		target := len(m.stack) - 1 - int(label)
		crossed := m.stack[len(m.stack)-1].split - m.stack[target].split
		relabeled = relabeled || crossed > 0
		leaves = leaves || target == 0
		m.labels = appendU32(m.labels, label+uint32(splitLabels*crossed))
	}
	switch {
	case leaves && op == 0x0c:
		m.refund(offset-1, editRefund)
	case leaves:
		m.refund(offset-1, editRefundBranch)
	}
	if !relabeled {
		m.labels = m.labels[:start]
		return nil
	}
	m.edits = append(m.edits, edit{kind: editLabels, offset: offset, end: bodyLen - len(r.b), from: start, to: len(m.labels)})
	return nil
}

// refund records a refund of kind before the instruction at offset.
func (m *meter) refund(offset int, kind editKind) {
	m.edits = append(m.edits, edit{kind: kind, offset: offset})
}

// blockType skips a block type: 0x40, one value type, or an s33 type index.
func (r *reader) blockType() error {
	if len(r.b) == 0 {
		return errors.New("missing block type")
	}
	if b := r.b[0]; b == 0x40 || (b >= 0x7b && b <= 0x7f) || b == 0x70 || b == 0x6f || b == 0x63 || b == 0x64 {
		return r.valType()
	}
	return r.skipLEB(5)
}

// valType skips a value type: one byte, or 0x63 or 0x64 (a typed
// reference) followed by an s33 heap type.
func (r *reader) valType() error {
	b, err := r.byte()
	if err != nil {
		return err
	}
	if b == 0x63 || b == 0x64 {
		return r.skipLEB(5)
	}
	return nil
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
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
		if err := r.skipLEB(5); err != nil {
			return err
		}
		return r.skipLEB(5)
	case op == 0x1c: // select with types
		_, err := r.valTypes()
		return err
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

// Refill computes what the refuel function writes into the budget global.
// A charge has left the global at current, below zero; left is what
// remains of the call's budget beyond the global. Refill moves up to slice
// instructions, plus the overdraft, from left into the global, and reports
// false when even all of left cannot bring the global back to zero: the
// call has spent its budget.
func Refill(current, left, slice int64) (global, newLeft int64, ok bool) {
	give := min(left, slice-current)
	global = current + give
	return global, left - give, global >= 0
}
