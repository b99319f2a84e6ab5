package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// errNotValidated means a walker met input that validateJSON would have
// rejected. It is returned instead of a panic if a caller skips validation.
var errNotValidated = errors.New("intake: JSON was not validated before walking it")

// jsonKind names the kind of the JSON value that starts at value[0], for
// error messages: "string", "number", "object", "array", "boolean" or
// "null".
func jsonKind(value []byte) string {
	if len(value) == 0 {
		return "nothing"
	}
	switch c := value[0]; {
	case c == '"':
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	default:
		return "number"
	}
}

// trimSpace removes JSON whitespace from both ends of p.
func trimSpace(p []byte) []byte {
	start := 0
	for start < len(p) && isSpace(p[start]) {
		start++
	}
	end := len(p)
	for end > start && isSpace(p[end-1]) {
		end--
	}
	return p[start:end]
}

func skipSpace(p []byte, i int) int {
	for i < len(p) && isSpace(p[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just past the string that starts at p[i].
func stringEnd(p []byte, i int) (int, error) {
	j := i + 1
	for {
		quote := bytes.IndexByte(p[j:], '"')
		if quote < 0 {
			return 0, errNotValidated
		}
		j += quote
		// The quote ends the string unless an odd number of backslashes
		// escape it.
		backslashes := 0
		for k := j - 1; k > i && p[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return j + 1, nil
		}
		j++
	}
}

// valueEnd returns the index just past the value that starts at p[i].
func valueEnd(p []byte, i int) (int, error) {
	if i >= len(p) {
		return 0, errNotValidated
	}
	switch p[i] {
	case '"':
		return stringEnd(p, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(p); j++ {
			switch p[j] {
			case '"':
				end, err := stringEnd(p, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errNotValidated
	default:
		j := i
		for j < len(p) && !isSpace(p[j]) && p[j] != ',' && p[j] != '}' && p[j] != ']' {
			j++
		}
		return j, nil
	}
}

// decodeString returns the text of the JSON string literal lit, which
// includes its quotes.
func decodeString(lit []byte) (string, error) {
	text, err := decodeStringBytes(lit)
	return string(text), err
}

// decodeStringBytes is decodeString for callers that need bytes. For a
// literal without escapes it returns a sub-slice of lit.
func decodeStringBytes(lit []byte) ([]byte, error) {
	if len(lit) < 2 {
		return nil, errNotValidated
	}
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, nil
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return nil, fmt.Errorf("decode JSON string: %w", err)
	}
	return []byte(s), nil
}

// eachMember calls fn with the decoded name and the raw value of each
// member of the JSON object obj, in order, and stops at the first error fn
// returns. obj must have passed validateJSON. Values, and names without
// escapes, are sub-slices of obj. Values have no surrounding whitespace.
func eachMember(obj []byte, fn func(name, value []byte) error) error {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return errNotValidated
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}

	for {
		if i >= len(obj) || obj[i] != '"' {
			return errNotValidated
		}
		keyEnd, err := stringEnd(obj, i)
		if err != nil {
			return err
		}
		name, err := decodeStringBytes(obj[i:keyEnd])
		if err != nil {
			return err
		}

		i = skipSpace(obj, keyEnd)
		if i >= len(obj) || obj[i] != ':' {
			return errNotValidated
		}
		i = skipSpace(obj, i+1)
		end, err := valueEnd(obj, i)
		if err != nil {
			return err
		}
		if err := fn(name, obj[i:end]); err != nil {
			return err
		}

		i = skipSpace(obj, end)
		if i >= len(obj) {
			return errNotValidated
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			return nil
		default:
			return errNotValidated
		}
	}
}
