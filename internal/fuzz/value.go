package fuzz

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// kind is the JSON type of a value.
type kind byte

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// value is a JSON value that keeps what encoding/json would lose: member
// order, repeated member names and the exact text of numbers. The
// generator builds events as values and the mutator edits them.
type value struct {
	kind kind
	b    bool
	text string   // the number's literal, or the decoded string
	keys []string // object member names, in order, repeats allowed
	vals []*value // object member values or array elements
}

func null() *value                { return &value{kind: kindNull} }
func boolean(b bool) *value       { return &value{kind: kindBool, b: b} }
func number(lit string) *value    { return &value{kind: kindNumber, text: lit} }
func str(s string) *value         { return &value{kind: kindString, text: s} }
func array(vals ...*value) *value { return &value{kind: kindArray, vals: vals} }
func object() *value              { return &value{kind: kindObject} }

// set appends a member to an object value and returns it.
func (v *value) set(name string, val *value) *value {
	v.keys = append(v.keys, name)
	v.vals = append(v.vals, val)
	return v
}

// get returns the first member of that name, or nil.
func (v *value) get(name string) *value {
	if v == nil || v.kind != kindObject {
		return nil
	}
	for i, k := range v.keys {
		if k == name {
			return v.vals[i]
		}
	}
	return nil
}

// remove deletes member i of an object or element i of an array.
func (v *value) remove(i int) {
	if v.kind == kindObject {
		v.keys = append(v.keys[:i:i], v.keys[i+1:]...)
	}
	v.vals = append(v.vals[:i:i], v.vals[i+1:]...)
}

// clone returns a deep copy.
func (v *value) clone() *value {
	c := *v
	if v.keys != nil {
		c.keys = append([]string(nil), v.keys...)
	}
	if v.vals != nil {
		c.vals = make([]*value, len(v.vals))
		for i, e := range v.vals {
			c.vals[i] = e.clone()
		}
	}
	return &c
}

// encode appends the compact JSON text of v to dst.
func (v *value) encode(dst []byte) []byte {
	switch v.kind {
	case kindNull:
		return append(dst, "null"...)
	case kindBool:
		return strconv.AppendBool(dst, v.b)
	case kindNumber:
		return append(dst, v.text...)
	case kindString:
		return appendJSONString(dst, v.text)
	case kindArray:
		dst = append(dst, '[')
		for i, e := range v.vals {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = e.encode(dst)
		}
		return append(dst, ']')
	default:
		dst = append(dst, '{')
		for i, k := range v.keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = v.vals[i].encode(dst)
		}
		return append(dst, '}')
	}
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 bytes become
// U+FFFD, so the output is always valid JSON.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// size counts the values in v, v included.
func (v *value) size() int {
	n := 1
	for _, e := range v.vals {
		n += e.size()
	}
	return n
}

// parseValue parses one JSON text into a value.
func parseValue(data []byte) (*value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseNext(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func parseNext(dec *json.Decoder) (*value, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return null(), nil
	case bool:
		return boolean(t), nil
	case json.Number:
		return number(t.String()), nil
	case string:
		return str(t), nil
	case json.Delim:
		v := &value{kind: kindArray}
		if t == '{' {
			v.kind = kindObject
		}
		for dec.More() {
			if v.kind == kindObject {
				name, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, name.(string))
			}
			e, err := parseNext(dec)
			if err != nil {
				return nil, err
			}
			v.vals = append(v.vals, e)
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		return v, nil
	}
	return nil, errors.New("unexpected JSON token")
}
