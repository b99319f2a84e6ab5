// Package wasmbin reads and rewrites the few parts of a WebAssembly binary
// that the host must police before handing the module to wazero.
package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by errors about a binary that cannot be parsed.
// wazero reports such modules in more detail when it compiles them.
var ErrMalformed = errors.New("malformed WebAssembly binary")

const (
	sectionTable = 4
	limitsMin    = 0x00 // limits with a minimum only
	limitsMinMax = 0x01 // limits with a minimum and a maximum
)

var header = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// FreezeTables returns code with every table defined by the module given a
// maximum equal to its minimum, so table.grow fails instead of allocating.
// It rejects a module whose tables declare more than maxElements elements
// in all. Code without tables to change is returned as it is.
//
// wazero counts tables against no limit, and a table without a maximum can
// grow to 2^32 elements of 8 bytes each, so without this a guest could
// allocate gigabytes outside its memory cap.
func FreezeTables(code []byte, maxElements uint64) ([]byte, error) {
	var table []byte
	var tableSection section
	err := walkSections(code, func(s section) error {
		if s.id != sectionTable {
			return nil
		}
		var err error
		table, err = freezeTableSection(s.contents(code), maxElements)
		tableSection = s
		return err
	})
	if err != nil {
		return nil, err
	}
	if table == nil {
		return code, nil
	}
	out := make([]byte, 0, len(code)+len(table))
	out = append(out, code[:tableSection.offset]...)
	out = append(out, sectionTable)
	out = appendU32(out, uint32(len(table)))
	out = append(out, table...)
	return append(out, code[tableSection.end:]...), nil
}

// section locates one section of a binary: its id byte is at offset and its
// contents are code[start:end].
type section struct {
	id                 byte
	offset, start, end int
}

func (s section) contents(code []byte) []byte { return code[s.start:s.end] }

// walkSections calls visit for each section of a version 1 binary, in
// order, and stops at the first error. A binary without the version 1
// header has no sections to visit: wazero rejects it.
func walkSections(code []byte, visit func(section) error) error {
	if !bytes.HasPrefix(code, header) {
		return nil
	}
	offset := len(header)
	for offset < len(code) {
		id := code[offset]
		size, n, err := readU32(code[offset+1:])
		if err != nil {
			return fmt.Errorf("%w: section %d at offset %d: %v", ErrMalformed, id, offset, err)
		}
		start := offset + 1 + n
		end := start + int(size)
		if end > len(code) || end < start {
			return fmt.Errorf("%w: section %d at offset %d runs past the end", ErrMalformed, id, offset)
		}
		if err := visit(section{id: id, offset: offset, start: start, end: end}); err != nil {
			return err
		}
		offset = end
	}
	return nil
}

// freezeTableSection returns the table section contents with every
// maximum set to the minimum, or nil when every table already has that.
func freezeTableSection(section []byte, maxElements uint64) ([]byte, error) {
	count, n, err := readU32(section)
	if err != nil {
		return nil, fmt.Errorf("%w: table count: %v", ErrMalformed, err)
	}
	out := appendU32(nil, count)
	pos := n
	changed := false
	var total uint64
	for i := uint32(0); i < count; i++ {
		if pos+2 > len(section) {
			return nil, fmt.Errorf("%w: table %d is cut short", ErrMalformed, i)
		}
		refType, flags := section[pos], section[pos+1]
		pos += 2
		minimum, n, err := readU32(section[pos:])
		if err != nil {
			return nil, fmt.Errorf("%w: table %d minimum: %v", ErrMalformed, i, err)
		}
		pos += n
		switch flags {
		case limitsMin:
			changed = true
		case limitsMinMax:
			maximum, n, err := readU32(section[pos:])
			if err != nil {
				return nil, fmt.Errorf("%w: table %d maximum: %v", ErrMalformed, i, err)
			}
			pos += n
			if maximum < minimum {
				return nil, fmt.Errorf("%w: table %d has maximum %d below its minimum %d", ErrMalformed, i, maximum, minimum)
			}
			if maximum != minimum {
				changed = true
			}
		default:
			return nil, fmt.Errorf("%w: table %d has limits flags 0x%02x; only 32-bit tables are supported", ErrMalformed, i, flags)
		}
		total += uint64(minimum)
		if total > maxElements {
			return nil, fmt.Errorf("tables declare %d elements or more; the limit is %d", total, maxElements)
		}
		out = append(out, refType, limitsMinMax)
		out = appendU32(out, minimum)
		out = appendU32(out, minimum)
	}
	if pos != len(section) {
		return nil, fmt.Errorf("%w: table section has %d extra bytes", ErrMalformed, len(section)-pos)
	}
	if !changed {
		return nil, nil
	}
	return out, nil
}

// readU32 decodes an unsigned LEB128 value of at most 32 bits.
func readU32(b []byte) (uint32, int, error) {
	var v uint64
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, errors.New("unexpected end of data")
		}
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if v > 0xFFFFFFFF {
				return 0, 0, errors.New("integer overflows 32 bits")
			}
			return uint32(v), i + 1, nil
		}
	}
	return 0, 0, errors.New("integer longer than 5 bytes")
}

// appendU32 appends v as unsigned LEB128.
func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}
