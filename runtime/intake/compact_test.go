package intake

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// compactInputs add to scanInputs the cases where compacting and UTF-8
// checking can go wrong.
var compactInputs = []string{
	" {\n  \"a\" : [ 1 , 2.5e-3 , \"x y\" ] ,\r\n\t\"b\" : { } \n} ",
	`{"n":12345678901234567890123}`, `[ -0.0E+00 , 1e999 ]`,
	`" spaces  stay "`, `"\" \\ "`, `"\u0020 "`, `"\ud800"`,
	"\"\xff\"", "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"\xe2\x82\"", "\"\xef\xbf\xbd\"",
	"\xef\xbb\xbf{}", "{}\xff", "[1,\xc3\xa9]", " \t\r\n", "[\"\x1f\"]",
	`{"a":tru}`, `{"a":nul}`, `{"a":fals}`, `[1.e1]`, `[-]`, `[1e+]`, `{"a"}`, `{"a":1}}`, `[}`, `{]`,
}

// checkCompactValid compares appendCompactValid on input with
// encoding/json.Valid and Compact and with the intake scanner.
func checkCompactValid(t *testing.T, input []byte) {
	t.Helper()
	prefix := []byte("prefix")
	got, ok := appendCompactValid(append([]byte(nil), prefix...), input)

	wantOK := json.Valid(input) && utf8.Valid(input)
	if ok != wantOK {
		t.Fatalf("appendCompactValid(%.60q) ok = %v, encoding/json and utf8.Valid return %v", input, ok, wantOK)
	}
	scannerOK := invalidUTF8Offset(input) < 0 && validateJSON(input) == nil
	if ok != scannerOK {
		t.Fatalf("appendCompactValid(%.60q) ok = %v, invalidUTF8Offset and validateJSON return %v", input, ok, scannerOK)
	}
	if !ok {
		if !bytes.Equal(got, prefix) {
			t.Fatalf("appendCompactValid(%.60q) failed but left %q in dst, want %q", input, got, prefix)
		}
		return
	}

	var want bytes.Buffer
	want.Write(prefix)
	if err := json.Compact(&want, input); err != nil {
		t.Fatalf("json.Compact(%.60q): %v", input, err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("appendCompactValid(%.60q) = %q, json.Compact gives %q", input, got, want.Bytes())
	}
}

func TestCompactValidMatchesEncodingJSON(t *testing.T) {
	for _, input := range append(append([]string(nil), scanInputs...), compactInputs...) {
		checkCompactValid(t, []byte(input))
	}
	for _, seed := range fuzzSeeds {
		checkCompactValid(t, []byte(seed))
	}
}

func TestCompactValidNestingLimit(t *testing.T) {
	for _, depth := range []int{maxNestingDepth, maxNestingDepth + 1} {
		input := strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
		_, ok := appendCompactValid(nil, []byte(input))
		if want := depth <= maxNestingDepth; ok != want {
			t.Errorf("depth %d: ok = %v, want %v", depth, ok, want)
		}
	}
}

func FuzzCompactValid(f *testing.F) {
	for _, input := range append(append([]string(nil), scanInputs...), compactInputs...) {
		f.Add([]byte(input))
	}
	for _, seed := range fuzzSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCompactValid(t, data)
	})
}
