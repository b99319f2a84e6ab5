package intake

import "unicode/utf8"

// plainStringByte marks the bytes that stand for themselves inside a JSON
// string: ASCII from 0x20 up, apart from '"' and '\'.
var plainStringByte = func() (table [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		table[c] = c != '"' && c != '\\'
	}
	return table
}()

// appendCompactValid checks in one pass that src is valid UTF-8 and exactly
// one JSON value (RFC 8259) with optional whitespace around it, nested no
// deeper than maxNestingDepth, and appends it to dst without insignificant
// whitespace, as encoding/json.Compact does. Strings, numbers and literals
// keep their exact text. It reports false where invalidUTF8Offset or
// validateJSON would report an error, and then returns dst cut back to its
// length on entry. Those two functions give the error's position and
// message.
func appendCompactValid(dst, src []byte) ([]byte, bool) {
	start := len(dst)
	// open contains '{' or '[' for each object or array not yet closed.
	var openArray [32]byte
	open := openArray[:0]
	i := 0
	for {
		// A value starts here.
		i = skipSpace(src, i)
		if i >= len(src) {
			return dst[:start], false
		}
		ok := true
		switch c := src[i]; {
		case c == '{' || c == '[':
			if len(open) >= maxNestingDepth {
				return dst[:start], false
			}
			open = append(open, c)
			dst = append(dst, c)
			i = skipSpace(src, i+1)
			if i < len(src) && src[i] == c+2 { // '}' is '{'+2 and ']' is '['+2
				dst = append(dst, c+2)
				open = open[:len(open)-1]
				i++
				break
			}
			if c == '{' {
				if dst, i, ok = appendKey(dst, src, i); !ok {
					return dst[:start], false
				}
			}
			continue
		case c == '"':
			dst, i, ok = appendStringLiteral(dst, src, i)
		case c == '-' || isDigit(c):
			end := numberEnd(src, i)
			ok = end > i
			dst = append(dst, src[i:end]...)
			i = end
		default:
			end := literalEnd(src, i)
			ok = end > i
			dst = append(dst, src[i:end]...)
			i = end
		}
		if !ok {
			return dst[:start], false
		}

		// The value has ended: close the objects and arrays that end after
		// it, then move to the next element or member.
		for {
			i = skipSpace(src, i)
			if len(open) == 0 {
				if i != len(src) {
					return dst[:start], false
				}
				return dst, true
			}
			if i >= len(src) {
				return dst[:start], false
			}
			top := open[len(open)-1]
			c := src[i]
			if c == top+2 {
				dst = append(dst, c)
				open = open[:len(open)-1]
				i++
				continue
			}
			if c != ',' {
				return dst[:start], false
			}
			dst = append(dst, ',')
			i = skipSpace(src, i+1)
			if top == '{' {
				if dst, i, ok = appendKey(dst, src, i); !ok {
					return dst[:start], false
				}
			}
			break
		}
	}
}

// appendKey appends the object key that starts at src[i] and the ':' after
// it, and returns the index just past the ':'.
func appendKey(dst, src []byte, i int) ([]byte, int, bool) {
	if i >= len(src) || src[i] != '"' {
		return dst, i, false
	}
	dst, i, ok := appendStringLiteral(dst, src, i)
	if !ok {
		return dst, i, false
	}
	i = skipSpace(src, i)
	if i >= len(src) || src[i] != ':' {
		return dst, i, false
	}
	return append(dst, ':'), i + 1, true
}

// appendStringLiteral checks the string literal that starts with the '"' at
// src[i], appends it unchanged and returns the index just past it.
func appendStringLiteral(dst, src []byte, i int) ([]byte, int, bool) {
	j := i + 1
	for j < len(src) {
		c := src[j]
		switch {
		case plainStringByte[c]:
			j++
		case c == '"':
			return append(dst, src[i:j+1]...), j + 1, true
		case c == '\\':
			j = escapeEnd(src, j)
			if j < 0 {
				return dst, i, false
			}
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(src[j:])
			if r == utf8.RuneError && size == 1 {
				return dst, i, false
			}
			j += size
		default: // a control character
			return dst, i, false
		}
	}
	return dst, i, false
}

// escapeEnd returns the index just past the escape sequence that starts
// with the '\' at src[j], or -1 when it is invalid.
func escapeEnd(src []byte, j int) int {
	if j+1 >= len(src) {
		return -1
	}
	switch src[j+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return j + 2
	case 'u':
		if j+6 > len(src) {
			return -1
		}
		for _, c := range src[j+2 : j+6] {
			if !isHex(c) {
				return -1
			}
		}
		return j + 6
	}
	return -1
}

// numberEnd returns the index just past the JSON number that starts at
// src[i], or i when no valid number starts there. The caller checks the
// byte after it.
func numberEnd(src []byte, i int) int {
	j := i
	if src[j] == '-' {
		j++
	}
	switch {
	case j < len(src) && src[j] == '0':
		j++
	case j < len(src) && '1' <= src[j] && src[j] <= '9':
		j = digitsEnd(src, j)
	default:
		return i
	}
	if j < len(src) && src[j] == '.' {
		end := digitsEnd(src, j+1)
		if end == j+1 {
			return i
		}
		j = end
	}
	if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
		j++
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		end := digitsEnd(src, j)
		if end == j {
			return i
		}
		j = end
	}
	return j
}

// digitsEnd returns the index of the first byte at or after src[j] that is
// not an ASCII digit.
func digitsEnd(src []byte, j int) int {
	for j < len(src) && isDigit(src[j]) {
		j++
	}
	return j
}

// literalEnd returns the index just past the true, false or null that
// starts at src[i], or i when none starts there.
func literalEnd(src []byte, i int) int {
	for _, literal := range [...]string{"true", "false", "null"} {
		if len(src)-i >= len(literal) && string(src[i:i+len(literal)]) == literal {
			return i + len(literal)
		}
	}
	return i
}
