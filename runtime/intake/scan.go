package intake

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxNestingDepth is the deepest nesting of objects and arrays the scanner
// accepts. It equals the limit of encoding/json, so the scanner never
// accepts a value that encoding/json would reject for depth.
const maxNestingDepth = 10000

// scanState is the position of a scanner in the JSON grammar.
type scanState uint8

const (
	stateBeginValue      scanState = iota // before a value
	stateBeginKeyOrEnd                    // after '{'
	stateBeginKey                         // after ',' in an object
	stateBeginValueOrEnd                  // after '['
	stateAfterKey                         // after an object key, before ':'
	stateAfterValue                       // after a value inside an object or array
	stateEnd                              // after the top-level value
	stateString                           // inside a string
	stateStringEscape                     // after '\' in a string
	stateStringHex                        // inside the 4 hex digits of \uXXXX
	stateNegative                         // after a leading '-'
	stateZero                             // after a leading '0'
	stateInteger                          // in the integer digits after 1-9
	stateDot                              // after '.'
	stateFraction                         // in the fraction digits
	stateExponent                         // after 'e' or 'E'
	stateExponentSign                     // after the exponent's sign
	stateExponentDigits                   // in the exponent digits
	stateLiteral                          // inside true, false or null
	stateError                            // after a syntax error
)

// scanner checks JSON syntax (RFC 8259) one byte at a time, so that the
// Decoder can tell whether the lines read so far contain a complete value,
// the beginning of one, or a syntax error, without reading any byte twice.
// It does not check that strings are valid UTF-8.
type scanner struct {
	state    scanState
	stack    []byte // '{' or '[' for each open object or array
	inKey    bool   // the string being scanned is an object key
	hexLeft  int    // hex digits still expected in a \u escape
	literal  string // remaining bytes of true, false or null
	offset   int    // bytes scanned
	line     int    // 0-based line of the next byte
	column   int    // 0-based byte column of the next byte
	err      *syntaxError
	complete bool // the top-level value has ended
}

// syntaxError is a JSON syntax error at a byte position of the input.
type syntaxError struct {
	Offset int // 0-based byte offset of the offending byte
	Line   int // 0-based line of the offending byte
	Column int // 0-based byte column of the offending byte
	Msg    string
	// Incomplete is true when the input ended inside a value.
	Incomplete bool
}

func (e *syntaxError) Error() string {
	if e.Incomplete {
		return e.Msg
	}
	// The position is relative to the event, which the caller locates by
	// its own line number, so a one-line event gives only the column.
	if e.Line == 0 {
		return fmt.Sprintf("%s (column %d)", e.Msg, e.Column+1)
	}
	return fmt.Sprintf("%s (line %d of the event, column %d)", e.Msg, e.Line+1, e.Column+1)
}

// validateJSON returns nil when data is exactly one JSON value with optional
// whitespace around it, or the first syntax error.
func validateJSON(data []byte) *syntaxError {
	var s scanner
	s.stack = make([]byte, 0, 32) // enough for most events without growing
	s.feed(data)
	return s.finish()
}

// feed scans p. After a syntax error it ignores all further input.
func (s *scanner) feed(p []byte) {
	for _, c := range p {
		if s.state == stateError {
			return
		}
		s.step(c)
		s.offset++
		if c == '\n' {
			s.line++
			s.column = 0
		} else {
			s.column++
		}
	}
}

// finish reports the result at the end of input: nil when exactly one
// complete value was scanned, otherwise the syntax error.
func (s *scanner) finish() *syntaxError {
	if s.err != nil {
		return s.err
	}
	if s.complete {
		return nil
	}
	// A top-level number ends only at the end of input.
	if len(s.stack) == 0 {
		switch s.state {
		case stateZero, stateInteger, stateFraction, stateExponentDigits:
			return nil
		}
	}
	if s.offset == 0 || s.state == stateBeginValue && len(s.stack) == 0 {
		return &syntaxError{Offset: s.offset, Line: s.line, Column: s.column, Msg: "no JSON value: input is empty or only whitespace", Incomplete: true}
	}
	return &syntaxError{Offset: s.offset, Line: s.line, Column: s.column, Msg: "unexpected end of JSON input", Incomplete: true}
}

// failed reports whether the scanner has seen a syntax error.
func (s *scanner) failed() bool { return s.state == stateError }

func (s *scanner) fail(c byte, context string) {
	s.state = stateError
	s.err = &syntaxError{
		Offset: s.offset,
		Line:   s.line,
		Column: s.column,
		Msg:    "invalid " + describeByte(c) + " " + context,
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// endValue moves past a finished value.
func (s *scanner) endValue() {
	if len(s.stack) == 0 {
		s.state = stateEnd
		s.complete = true
		return
	}
	s.state = stateAfterValue
}

func (s *scanner) push(open byte) bool {
	if len(s.stack) >= maxNestingDepth {
		s.state = stateError
		s.err = &syntaxError{
			Offset: s.offset,
			Line:   s.line,
			Column: s.column,
			Msg:    "JSON nesting is deeper than the maximum of " + strconv.Itoa(maxNestingDepth),
		}
		return false
	}
	s.stack = append(s.stack, open)
	return true
}

func (s *scanner) pop() {
	s.stack = s.stack[:len(s.stack)-1]
	s.endValue()
}

// beginValue handles the first byte of a value.
func (s *scanner) beginValue(c byte) {
	switch {
	case c == '{':
		if s.push('{') {
			s.state = stateBeginKeyOrEnd
		}
	case c == '[':
		if s.push('[') {
			s.state = stateBeginValueOrEnd
		}
	case c == '"':
		s.inKey = false
		s.state = stateString
	case c == '-':
		s.state = stateNegative
	case c == '0':
		s.state = stateZero
	case '1' <= c && c <= '9':
		s.state = stateInteger
	case c == 't':
		s.literal = "rue"
		s.state = stateLiteral
	case c == 'f':
		s.literal = "alse"
		s.state = stateLiteral
	case c == 'n':
		s.literal = "ull"
		s.state = stateLiteral
	default:
		s.fail(c, "looking for beginning of value")
	}
}

// endNumber handles the byte right after a number, which ends it.
func (s *scanner) endNumber(c byte) {
	s.endValue()
	s.step(c)
}

func (s *scanner) step(c byte) {
	switch s.state {
	case stateBeginValue:
		if !isSpace(c) {
			s.beginValue(c)
		}

	case stateBeginKeyOrEnd:
		switch {
		case isSpace(c):
		case c == '}':
			s.pop()
		case c == '"':
			s.inKey = true
			s.state = stateString
		default:
			s.fail(c, "looking for beginning of object key string")
		}

	case stateBeginKey:
		switch {
		case isSpace(c):
		case c == '"':
			s.inKey = true
			s.state = stateString
		default:
			s.fail(c, "looking for beginning of object key string")
		}

	case stateBeginValueOrEnd:
		switch {
		case isSpace(c):
		case c == ']':
			s.pop()
		default:
			s.beginValue(c)
		}

	case stateAfterKey:
		switch {
		case isSpace(c):
		case c == ':':
			s.state = stateBeginValue
		default:
			s.fail(c, "after object key")
		}

	case stateAfterValue:
		if isSpace(c) {
			return
		}
		if s.stack[len(s.stack)-1] == '{' {
			switch c {
			case ',':
				s.state = stateBeginKey
			case '}':
				s.pop()
			default:
				s.fail(c, "after object key:value pair")
			}
			return
		}
		switch c {
		case ',':
			s.state = stateBeginValue
		case ']':
			s.pop()
		default:
			s.fail(c, "after array element")
		}

	case stateEnd:
		if !isSpace(c) {
			s.fail(c, "after top-level value")
		}

	case stateString:
		switch {
		case c == '"':
			if s.inKey {
				s.inKey = false
				s.state = stateAfterKey
			} else {
				s.endValue()
			}
		case c == '\\':
			s.state = stateStringEscape
		case c < 0x20:
			s.fail(c, "in string literal")
		}

	case stateStringEscape:
		switch c {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			s.state = stateString
		case 'u':
			s.hexLeft = 4
			s.state = stateStringHex
		default:
			s.fail(c, "in string escape code")
		}

	case stateStringHex:
		if !isHex(c) {
			s.fail(c, "in \\u hexadecimal character escape")
			return
		}
		s.hexLeft--
		if s.hexLeft == 0 {
			s.state = stateString
		}

	case stateNegative:
		switch {
		case c == '0':
			s.state = stateZero
		case '1' <= c && c <= '9':
			s.state = stateInteger
		default:
			s.fail(c, "in numeric literal")
		}

	case stateZero:
		switch c {
		case '.':
			s.state = stateDot
		case 'e', 'E':
			s.state = stateExponent
		default:
			s.endNumber(c)
		}

	case stateInteger:
		switch {
		case isDigit(c):
		case c == '.':
			s.state = stateDot
		case c == 'e' || c == 'E':
			s.state = stateExponent
		default:
			s.endNumber(c)
		}

	case stateDot:
		if !isDigit(c) {
			s.fail(c, "after decimal point in numeric literal")
			return
		}
		s.state = stateFraction

	case stateFraction:
		switch {
		case isDigit(c):
		case c == 'e' || c == 'E':
			s.state = stateExponent
		default:
			s.endNumber(c)
		}

	case stateExponent:
		switch {
		case c == '+' || c == '-':
			s.state = stateExponentSign
		case isDigit(c):
			s.state = stateExponentDigits
		default:
			s.fail(c, "in exponent of numeric literal")
		}

	case stateExponentSign:
		if !isDigit(c) {
			s.fail(c, "in exponent of numeric literal")
			return
		}
		s.state = stateExponentDigits

	case stateExponentDigits:
		if !isDigit(c) {
			s.endNumber(c)
		}

	case stateLiteral:
		if c != s.literal[0] {
			s.fail(c, "in literal (expecting '"+s.literal[:1]+"')")
			return
		}
		s.literal = s.literal[1:]
		if s.literal == "" {
			s.endValue()
		}
	}
}

// describeByte formats c for an error message, in the style of
// encoding/json: "character 'x'" for ASCII and "byte 0xff" otherwise.
func describeByte(c byte) string {
	switch {
	case c == '\'':
		return `character '\''`
	case c == '"':
		return `character '"'`
	case c >= utf8.RuneSelf:
		return fmt.Sprintf("byte 0x%02x", c)
	}
	quoted := strconv.Quote(string(rune(c)))
	return "character '" + quoted[1:len(quoted)-1] + "'"
}
