package wasmbin

import (
	"errors"
	"fmt"
)

// Limits bounds what a module may declare. wazero v1.12.0 allocates each
// vector of the binary at its declared count before reading the entries, so
// a 15-byte module declaring 2^32 functions makes the host process run out
// of memory, which Go cannot recover from. Check rejects such modules first.
type Limits struct {
	ModuleBytes    int    // size of the binary
	Types          uint32 // entries of the type section
	Imports        uint32
	Functions      uint32 // functions defined by the module
	Tables         uint32
	Globals        uint32
	Exports        uint32
	ElementEntries uint64 // entries of all element segments together
	DataSegments   uint32
	Locals         uint64 // locals declared by one function
}

// DefaultLimits are far above what compilers emit: a Go listener has about
// 2,200 functions, 25 imports and 6,300 element entries, and clang and rustc
// cap locals per function well below 50,000.
var DefaultLimits = Limits{
	ModuleBytes:    64 << 20,
	Types:          100_000,
	Imports:        10_000,
	Functions:      1_000_000,
	Tables:         100,
	Globals:        100_000,
	Exports:        100_000,
	ElementEntries: 1 << 20,
	DataSegments:   100_000,
	Locals:         50_000,
}

// Section ids of the WebAssembly binary format.
const (
	sectionCustom   = 0
	sectionType     = 1
	sectionImport   = 2
	sectionFunction = 3
	sectionMemory   = 5
	sectionGlobal   = 6
	sectionExport   = 7
	sectionElement  = 9
	sectionCode     = 10
	sectionData     = 11
)

// Check walks the binary and rejects counts larger than the bytes that
// could hold them, and declarations past limits. It reads only counts and
// sizes, and the constant expressions and local declarations that come
// before nested counts; wazero validates everything else when it compiles.
// A binary that is not WebAssembly version 1 is left to wazero to reject.
func Check(code []byte, limits Limits) error {
	if len(code) > limits.ModuleBytes {
		return fmt.Errorf("module is %d bytes; the limit is %d", len(code), limits.ModuleBytes)
	}
	return walkSections(code, func(s section) error {
		return checkSection(&reader{b: s.contents(code), section: s.id}, limits)
	})
}

func checkSection(r *reader, limits Limits) error {
	switch r.section {
	case sectionCustom:
		return checkCustom(r)
	case sectionType:
		return checkTypes(r, limits)
	case sectionImport:
		return checkImports(r, limits)
	case sectionFunction:
		_, err := r.count("functions", limits.Functions)
		return err
	case sectionTable:
		_, err := r.count("tables", limits.Tables)
		return err
	case sectionMemory:
		_, err := r.count("memories", 1)
		return err
	case sectionGlobal:
		return checkGlobals(r, limits)
	case sectionExport:
		return checkExports(r, limits)
	case sectionElement:
		return checkElements(r, limits)
	case sectionCode:
		return checkCode(r, limits)
	case sectionData:
		return checkData(r, limits)
	}
	return nil
}

// checkTypes checks the parameter and result counts of every function type.
func checkTypes(r *reader, limits Limits) error {
	types, err := r.count("types", limits.Types)
	if err != nil {
		return err
	}
	for i := uint32(0); i < types; i++ {
		if err := r.skip(1); err != nil { // 0x60, the function type form
			return r.malformed("type %d: %v", i, err)
		}
		for _, items := range []string{"parameters", "results"} {
			n, err := r.count(items, ^uint32(0))
			if err != nil {
				return err
			}
			if err := r.skip(int(n)); err != nil {
				return r.malformed("type %d %s: %v", i, items, err)
			}
		}
	}
	return nil
}

// checkImports checks the name lengths and descriptors of every import.
func checkImports(r *reader, limits Limits) error {
	var counts [5]uint32
	return r.imports(limits.Imports, &counts)
}

// imports reads the import section, checking the name lengths and
// descriptors of every import, and adds the number of imports of each
// kind (function, table, memory, global) to counts.
func (r *reader) imports(limit uint32, counts *[5]uint32) error {
	imports, err := r.count("imports", limit)
	if err != nil {
		return err
	}
	for i := uint32(0); i < imports; i++ {
		if err := r.name(); err != nil {
			return r.malformed("import %d module name: %v", i, err)
		}
		if err := r.name(); err != nil {
			return r.malformed("import %d name: %v", i, err)
		}
		if len(r.b) == 0 {
			return r.malformed("import %d has no descriptor", i)
		}
		kind := r.b[0]
		r.b = r.b[1:]
		switch kind {
		case 0x00: // function: type index
			_, err = r.u32()
		case 0x01: // table: reference type, limits
			if err = r.skip(1); err == nil {
				err = r.limits()
			}
		case 0x02: // memory: limits
			err = r.limits()
		case 0x03: // global: value type, mutability
			if err = r.valType(); err == nil {
				err = r.skip(1)
			}
		default:
			err = fmt.Errorf("unknown import kind 0x%02x", kind)
		}
		if err != nil {
			return r.malformed("import %d: %v", i, err)
		}
		counts[kind]++
	}
	return nil
}

// checkGlobals checks every global's initializer.
func checkGlobals(r *reader, limits Limits) error {
	globals, err := r.count("globals", limits.Globals)
	if err != nil {
		return err
	}
	for i := uint32(0); i < globals; i++ {
		if err := r.valType(); err != nil {
			return r.malformed("global %d: %v", i, err)
		}
		if err := r.skip(1); err != nil { // mutability
			return r.malformed("global %d: %v", i, err)
		}
		if err := r.constExpr(); err != nil {
			return r.malformed("global %d initializer: %v", i, err)
		}
	}
	return nil
}

// checkExports checks the name length of every export.
func checkExports(r *reader, limits Limits) error {
	exports, err := r.count("exports", limits.Exports)
	if err != nil {
		return err
	}
	for i := uint32(0); i < exports; i++ {
		if err := r.name(); err != nil {
			return r.malformed("export %d name: %v", i, err)
		}
		if err := r.skip(1); err != nil { // kind
			return r.malformed("export %d: %v", i, err)
		}
		if _, err := r.u32(); err != nil {
			return r.malformed("export %d index: %v", i, err)
		}
	}
	return nil
}

// checkData checks the byte length of every data segment.
func checkData(r *reader, limits Limits) error {
	segments, err := r.count("data segments", limits.DataSegments)
	if err != nil {
		return err
	}
	for i := uint32(0); i < segments; i++ {
		flags, err := r.u32()
		if err != nil {
			return r.malformed("data segment %d flags: %v", i, err)
		}
		switch flags {
		case 0: // active, memory 0
			err = r.constExpr()
		case 1: // passive
		case 2: // active, explicit memory
			if _, err = r.u32(); err == nil {
				err = r.constExpr()
			}
		default:
			err = fmt.Errorf("flags %d", flags)
		}
		if err != nil {
			return r.malformed("data segment %d: %v", i, err)
		}
		if err := r.name(); err != nil { // a byte vector, read like a name
			return r.malformed("data segment %d bytes: %v", i, err)
		}
	}
	return nil
}

// checkElements checks every element segment's entry count; their sum is
// limited because wazero allocates each segment's entries when it decodes.
func checkElements(r *reader, limits Limits) error {
	segments, err := r.count("element segments", ^uint32(0))
	if err != nil {
		return err
	}
	var total uint64
	for i := uint32(0); i < segments; i++ {
		flags, err := r.u32()
		if err != nil {
			return r.malformed("element segment %d flags: %v", i, err)
		}
		if flags > 7 {
			return r.malformed("element segment %d has flags %d", i, flags)
		}
		active, explicitTable, usesExprs := flags&1 == 0, flags&2 != 0, flags&4 != 0
		if active && explicitTable {
			if _, err := r.u32(); err != nil {
				return r.malformed("element segment %d table: %v", i, err)
			}
		}
		if active {
			if err := r.constExpr(); err != nil {
				return r.malformed("element segment %d offset: %v", i, err)
			}
		}
		if !active || explicitTable {
			if err := r.skip(1); err != nil { // element kind or reference type
				return r.malformed("element segment %d kind: %v", i, err)
			}
		}
		entries, err := r.count("element entries", ^uint32(0))
		if err != nil {
			return err
		}
		total += uint64(entries)
		if total > limits.ElementEntries {
			return fmt.Errorf("element segments declare %d entries or more; the limit is %d", total, limits.ElementEntries)
		}
		for j := uint32(0); j < entries; j++ {
			if usesExprs {
				err = r.constExpr()
			} else {
				_, err = r.u32()
			}
			if err != nil {
				return r.malformed("element segment %d entry %d: %v", i, j, err)
			}
		}
	}
	return nil
}

// checkCode checks the local declarations of every function body, because
// wazero allocates a slot per declared local.
func checkCode(r *reader, limits Limits) error {
	bodies, err := r.count("function bodies", limits.Functions)
	if err != nil {
		return err
	}
	for i := uint32(0); i < bodies; i++ {
		size, err := r.u32()
		if err != nil {
			return r.malformed("function body %d size: %v", i, err)
		}
		if uint64(size) > uint64(len(r.b)) {
			return r.malformed("function body %d runs past the section", i)
		}
		body := &reader{b: r.b[:size], section: r.section}
		r.b = r.b[size:]
		groups, err := body.count("local declarations", ^uint32(0))
		if err != nil {
			return err
		}
		var locals uint64
		for j := uint32(0); j < groups; j++ {
			n, err := body.u32()
			if err != nil {
				return body.malformed("function body %d locals: %v", i, err)
			}
			locals += uint64(n)
			if locals > limits.Locals {
				return fmt.Errorf("function body %d declares %d locals or more; the limit is %d", i, locals, limits.Locals)
			}
			if err := body.valType(); err != nil {
				return body.malformed("function body %d local type: %v", i, err)
			}
		}
	}
	return nil
}

// checkCustom checks the counts of the "name" section, which wazero
// decodes into maps sized by those counts.
func checkCustom(r *reader) error {
	nameLen, err := r.u32()
	if err != nil || uint64(nameLen) > uint64(len(r.b)) {
		return nil // wazero rejects a malformed custom section name
	}
	name := string(r.b[:nameLen])
	r.b = r.b[nameLen:]
	if name != "name" {
		return nil
	}
	for len(r.b) > 0 {
		id := r.b[0]
		r.b = r.b[1:]
		size, err := r.u32()
		if err != nil || uint64(size) > uint64(len(r.b)) {
			return r.malformed("name subsection %d: size runs past the section", id)
		}
		sub := &reader{b: r.b[:size], section: r.section}
		r.b = r.b[size:]
		switch id {
		case 1: // function names: vec(index, name)
			if err := sub.nameMap(); err != nil {
				return err
			}
		case 2: // local names: vec(index, vec(index, name))
			outer, err := sub.count("local name entries", ^uint32(0))
			if err != nil {
				return err
			}
			for i := uint32(0); i < outer; i++ {
				if _, err := sub.u32(); err != nil {
					return sub.malformed("local names %d: %v", i, err)
				}
				if err := sub.nameMap(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// reader reads one section's contents.
type reader struct {
	b       []byte
	section byte
}

func (r *reader) malformed(format string, args ...any) error {
	return fmt.Errorf("%w: section %d: %s", ErrMalformed, r.section, fmt.Sprintf(format, args...))
}

func (r *reader) u32() (uint32, error) {
	v, n, err := readU32(r.b)
	if err != nil {
		return 0, err
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *reader) skip(n int) error {
	if n > len(r.b) {
		return fmt.Errorf("unexpected end of section")
	}
	r.b = r.b[n:]
	return nil
}

// count reads a vector length. Every entry takes at least one byte, so a
// count above the bytes left is malformed; one above limit is rejected.
func (r *reader) count(items string, limit uint32) (uint32, error) {
	n, err := r.u32()
	if err != nil {
		return 0, r.malformed("%s count: %v", items, err)
	}
	if uint64(n) > uint64(len(r.b)) {
		return 0, r.malformed("%d %s declared in %d bytes", n, items, len(r.b))
	}
	if n > limit {
		return 0, fmt.Errorf("module declares %d %s; the limit is %d", n, items, limit)
	}
	return n, nil
}

// name skips a byte vector after checking that its length fits.
func (r *reader) name() error {
	length, err := r.u32()
	if err != nil {
		return err
	}
	return r.skip(int(min(uint64(length), uint64(len(r.b))+1)))
}

// limits skips table or memory limits.
func (r *reader) limits() error {
	if len(r.b) == 0 {
		return fmt.Errorf("missing limits")
	}
	flags := r.b[0]
	r.b = r.b[1:]
	if _, err := r.u32(); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err := r.u32()
		return err
	}
	return nil
}

// nameMap skips a vector of (index, name) pairs, checking its counts.
func (r *reader) nameMap() error {
	n, err := r.count("names", ^uint32(0))
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if _, err := r.u32(); err != nil {
			return r.malformed("name %d index: %v", i, err)
		}
		length, err := r.u32()
		if err != nil || uint64(length) > uint64(len(r.b)) {
			return r.malformed("name %d runs past the section", i)
		}
		r.b = r.b[length:]
	}
	return nil
}

// constExpr skips a constant expression up to and including its end
// opcode. It accepts the instructions a constant expression may contain,
// the extended-constant arithmetic included, and rejects any other.
func (r *reader) constExpr() error {
	for {
		end := len(r.b) > 0 && r.b[0] == 0x0b
		if err := r.constExprStep(); err != nil {
			return err
		}
		if end {
			return nil
		}
	}
}

// byte reads one byte.
func (r *reader) byte() (byte, error) {
	if len(r.b) == 0 {
		return 0, errors.New("unexpected end of section")
	}
	b := r.b[0]
	r.b = r.b[1:]
	return b, nil
}

// constExprStep skips one instruction of a constant expression.
func (r *reader) constExprStep() error {
	if len(r.b) == 0 {
		return fmt.Errorf("constant expression has no end")
	}
	op := r.b[0]
	r.b = r.b[1:]
	var err error
	switch op {
	case 0x0b: // end
		return nil
	case 0x41, 0x23, 0xd2: // i32.const, global.get, ref.func
		err = r.skipLEB(5)
	case 0x42: // i64.const
		err = r.skipLEB(10)
	case 0x43: // f32.const
		err = r.skip(4)
	case 0x44: // f64.const
		err = r.skip(8)
	case 0xd0: // ref.null
		err = r.skip(1)
	case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // i32/i64 add, sub, mul
	case 0xfd: // v128.const
		if err = r.skipLEB(5); err == nil {
			err = r.skip(16)
		}
	default:
		return fmt.Errorf("opcode 0x%02x is not allowed in a constant expression", op)
	}
	return err
}

// skipLEB skips one LEB128 value of at most max bytes.
func (r *reader) skipLEB(max int) error {
	for i := 0; i < max && i < len(r.b); i++ {
		if r.b[i]&0x80 == 0 {
			r.b = r.b[i+1:]
			return nil
		}
	}
	return fmt.Errorf("invalid LEB128 value")
}
