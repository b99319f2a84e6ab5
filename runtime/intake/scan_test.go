package intake

import (
	"encoding/json"
	"strings"
	"testing"
)

// scanInputs are JSON texts, valid and not, that exercise every scanner
// state.
var scanInputs = []string{
	``, ` `, `{}`, ` { } `, `[]`, `[ ]`, `null`, `true`, `false`, `nul`, `nulll`, `tru`, `truE`,
	`0`, `-0`, `01`, `-`, `-a`, `1.`, `1.5`, `1.5e`, `1.5e+`, `1.5e+3`, `1E9`, `1e-9`, `.5`, `+1`, `12345678901234567890`,
	`""`, `"a"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9"`, `"\u00G9"`, `"\x"`, "\"a\tb\"", "\"a\x7fb\"", `"abc`, `"\`,
	`{"a":1}`, `{"a" 1}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`, `{1:2}`, `{"a":[1,2,{"b":null}]}`,
	`[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[[[]]`, `[]]`, `{}}`, `{} {}`, `{}x`, `1 2`, "{\n\"a\"\r\n:\t1\n}\n",
	`{"a":"b"}` + "\x00", `["é", "日本", "🎉"]`,
	strings.Repeat("[", maxNestingDepth) + strings.Repeat("]", maxNestingDepth),
	strings.Repeat("[", maxNestingDepth+1) + strings.Repeat("]", maxNestingDepth+1),
}

func TestScannerMatchesEncodingJSON(t *testing.T) {
	for _, input := range scanInputs {
		got := validateJSON([]byte(input)) == nil
		if want := json.Valid([]byte(input)); got != want {
			t.Errorf("validateJSON(%.40q) valid = %v, encoding/json says %v", input, got, want)
		}
	}
}

func TestScannerByteAtATime(t *testing.T) {
	for _, input := range scanInputs {
		var whole, bytewise scanner
		whole.feed([]byte(input))
		for i := range len(input) {
			bytewise.feed([]byte{input[i]})
		}
		wholeErr, bytewiseErr := whole.finish(), bytewise.finish()
		if (wholeErr == nil) != (bytewiseErr == nil) || wholeErr != nil && *wholeErr != *bytewiseErr {
			t.Errorf("%.40q: whole input gives %v, byte at a time gives %v", input, wholeErr, bytewiseErr)
		}
	}
}

func TestScannerErrorPosition(t *testing.T) {
	tests := []struct {
		name       string
		input      string
		line       int
		column     int
		incomplete bool
		text       string
	}{
		{"missing colon", "{\n  \"a\" 1\n}", 1, 6, false, `invalid character '1' after object key (line 2 of the event, column 7)`},
		{"bad escape", `"\q"`, 0, 2, false, `invalid character 'q' in string escape code`},
		{"truncated", "{\n\"a\":", 1, 4, true, `unexpected end of JSON input`},
		{"depth", strings.Repeat("[", maxNestingDepth+1), 0, maxNestingDepth, false, `nesting is deeper than the maximum of 10000`},
		{"non-ascii", "[\xff]", 0, 1, false, `invalid byte 0xff looking for beginning of value`},
		{"control", "[\x01]", 0, 1, false, `invalid character '\x01' looking for beginning of value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateJSON([]byte(tt.input))
			if err == nil {
				t.Fatal("validateJSON accepted the input")
			}
			if err.Line != tt.line || err.Column != tt.column {
				t.Errorf("position = line %d column %d, want line %d column %d", err.Line, err.Column, tt.line, tt.column)
			}
			if err.Incomplete != tt.incomplete {
				t.Errorf("Incomplete = %v, want %v", err.Incomplete, tt.incomplete)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
		})
	}
}

func TestEachMember(t *testing.T) {
	obj := []byte(` { "a" : "x,}\"" , "b\u0063":[1,{"d":"]"}] ,"e":-1.5e3,"f":true,"g":null, "h":{} } `)
	var got []string
	err := eachMember(obj, func(name, value []byte) error {
		got = append(got, string(name)+"="+string(value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`a="x,}\""`, `bc=[1,{"d":"]"}]`, `e=-1.5e3`, `f=true`, `g=null`, `h={}`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("members = %q, want %q", got, want)
	}
}

func FuzzScanner(f *testing.F) {
	for _, input := range scanInputs[:len(scanInputs)-2] {
		f.Add([]byte(input))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		syntaxErr := validateJSON(data)
		if got, want := syntaxErr == nil, json.Valid(data); got != want {
			t.Fatalf("validateJSON(%q) valid = %v, encoding/json says %v (%v)", data, got, want, syntaxErr)
		}
		if syntaxErr != nil || len(data) == 0 || trimSpace(data)[0] != '{' {
			return
		}
		// Walking a valid object must visit every member that
		// encoding/json decodes.
		count := 0
		if err := eachMember(data, func(name, value []byte) error {
			count++
			if !json.Valid(value) {
				t.Errorf("member %q has invalid value %q", name, value)
			}
			return nil
		}); err != nil {
			t.Fatalf("eachMember(%q): %v", data, err)
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(data, &members); err != nil {
			t.Fatal(err)
		}
		if count < len(members) {
			t.Errorf("eachMember visited %d members, encoding/json found %d distinct names", count, len(members))
		}
	})
}
