package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/tokenwire/tokenwire/abi"
)

// result is one return of Decoder.Next.
type result struct {
	event *abi.Event
	err   error
}

// String describes r in the form the decoder tests compare: the event id,
// or the line and the error.
func (r result) String() string {
	if r.err == nil {
		return "event " + r.event.ID
	}
	var fieldErr *Error
	if errors.As(r.err, &fieldErr) {
		kind := "other"
		switch {
		case errors.Is(r.err, ErrInvalid):
			kind = "invalid"
		case errors.Is(r.err, ErrTooLarge):
			kind = "too large"
		}
		return fmt.Sprintf("line %d %s", fieldErr.Line, kind)
	}
	return "error " + r.err.Error()
}

// drain calls Next until io.EOF or an error that stops the decoder, and
// returns everything Next returned before io.EOF.
func drain(t *testing.T, d *Decoder) []result {
	t.Helper()
	var results []result
	for range 100000 {
		event, err := d.Next()
		if errors.Is(err, io.EOF) {
			if _, again := d.Next(); !errors.Is(again, io.EOF) {
				t.Errorf("Next after io.EOF returned %v, want io.EOF", again)
			}
			return results
		}
		if (event == nil) == (err == nil) {
			t.Fatalf("Next returned event %v and error %v, want exactly one", event, err)
		}
		results = append(results, result{event, err})
		if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
			return results
		}
	}
	t.Fatal("Next did not reach io.EOF")
	return nil
}

// summary returns the String of each result.
func summary(results []result) []string {
	out := make([]string, len(results))
	for i, r := range results {
		out[i] = r.String()
	}
	return out
}

// event returns a one-line event with the given id.
func event(id string) string {
	return `{"id":"` + id + `","type":"id_token.issued","issuer":"https://i","claims":{"sub":"s","iat":1700000000}}`
}

// prettyEvent returns the event with the given id, indented over several
// lines.
func prettyEvent(id string) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(event(id)), "", "  "); err != nil {
		panic(err)
	}
	return buf.String()
}

func TestDecoder(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"empty", "", nil},
		{"blank lines only", "\n \n\t\r\n", nil},
		{"one line", event("a"), []string{"event a"}},
		{"ndjson", event("a") + "\n" + event("b") + "\n", []string{"event a", "event b"}},
		{"blank lines", "\n\n" + event("a") + "\n   \n\n" + event("b") + "\n\n", []string{"event a", "event b"}},
		{"crlf", event("a") + "\r\n" + event("b") + "\r\n\r\n" + event("c"), []string{"event a", "event b", "event c"}},
		{"bom", "\xEF\xBB\xBF" + event("a") + "\n" + event("b"), []string{"event a", "event b"}},
		{"bad line in middle", event("a") + "\n" + `{"type":"id_token.isued"}` + "\n" + event("c") + "\n",
			[]string{"event a", "line 2 invalid", "event c"}},
		{"bad lines", "\n" + "nope\n" + event("a") + "\n[1]\n\n" + `{"clams":{}}` + "\n" + event("b"),
			[]string{"line 2 invalid", "event a", "line 4 invalid", "line 6 invalid", "event b"}},
		{"pretty object", prettyEvent("a"), []string{"event a"}},
		{"pretty object crlf", strings.ReplaceAll(prettyEvent("a"), "\n", "\r\n") + "\r\n", []string{"event a"}},
		{"pretty objects", prettyEvent("a") + "\n" + prettyEvent("b") + "\n", []string{"event a", "event b"}},
		{"pretty then ndjson", "\n" + prettyEvent("a") + "\n" + event("b") + "\n" + event("c"), []string{"event a", "event b", "event c"}},
		{"pretty invalid event", "\n" + strings.Replace(prettyEvent("a"), "id_token.issued", "id_token.isued", 1) + "\n" + event("b"),
			[]string{"line 2 invalid", "event b"}},
		{"truncated ndjson line", event("a") + "\n" + event("b")[:40] + "\n" + event("c") + "\n" + event("d") + "\n",
			[]string{"event a", "line 2 invalid", "event c", "event d"}},
		{"truncated last line", event("a") + "\n" + event("b")[:40], []string{"event a", "line 2 invalid"}},
		{"truncated pretty object", event("a") + "\n" + prettyEvent("b")[:60] + "\n",
			[]string{"event a", "line 2 invalid"}},
		{"malformed pretty object", strings.Replace(prettyEvent("a"), `"issuer":`, `"issuer"`, 1) + "\n" + event("b"),
			[]string{"line 1 invalid", "event b"}},
		{"pretty after malformed pretty", strings.Replace(prettyEvent("a"), `"issuer":`, `"issuer"`, 1) + "\n" + prettyEvent("b"),
			[]string{"line 1 invalid", "event b"}},
		{"garbage after malformed pretty", strings.Replace(prettyEvent("a"), `"issuer":`, `"issuer"`, 1) + "\nnope\n]\n\n" + event("b") + "\nnope",
			[]string{"line 1 invalid", "event b", "line 14 invalid"}},
		{"trailing data after object", "{\n\"id\": \"a\"\n} x\n" + event("b"), []string{"line 1 invalid", "event b"}},
		{"two objects on a line", event("a") + event("b") + "\n" + event("c"), []string{"line 1 invalid", "event c"}},
		{"unclosed array line", "[\n" + event("a"), []string{"line 1 invalid", "event a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(strings.NewReader(tt.input), testOptions())
			got := summary(drain(t, d))
			if strings.Join(got, "; ") != strings.Join(tt.want, "; ") {
				t.Errorf("results:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestDecoderErrorMessage(t *testing.T) {
	input := event("a") + "\n\n" + `{"id":"b","type":"id_token.isued","issuer":"i","claims":{}}` + "\n"
	d := NewDecoder(strings.NewReader(input), testOptions())
	if _, err := d.Next(); err != nil {
		t.Fatalf("first event: %v", err)
	}
	_, err := d.Next()
	want := `line 3: invalid event: field "type": unknown event type "id_token.isued": use one of id_token.issued, access_token.issued`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	var fieldErr *Error
	if !errors.As(err, &fieldErr) {
		t.Fatalf("error is %T, want *Error", err)
	}
	if fieldErr.Line != 3 || fieldErr.Field != "type" {
		t.Errorf("Line, Field = %d, %q, want 3, \"type\"", fieldErr.Line, fieldErr.Field)
	}
}

func TestDecoderMalformedObjectMessage(t *testing.T) {
	input := "{\n  \"id\": \"a\",\n  \"type\" \"id_token.issued\"\n}\n"
	d := NewDecoder(strings.NewReader(input), testOptions())
	_, err := d.Next()
	want := `line 1: invalid event: malformed JSON in the object starting on this line: line 3, column 10: invalid character '"' after object key`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
	if _, err := d.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("second Next = %v, want io.EOF", err)
	}
}

func TestDecoderIncompleteMessage(t *testing.T) {
	d := NewDecoder(strings.NewReader("\n{\n  \"id\": \"a\",\n"), testOptions())
	_, err := d.Next()
	want := `line 2: invalid event: the object starting on this line is incomplete at the end of input`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
}

func TestDecoderEventContent(t *testing.T) {
	const big = "98765432109876543210"
	claims := `{"sub":"Zoë 🎉","big":` + big + `,"esc":"\u00e9"}`
	input := `{"id":"a","type":"access_token.issued","issuer":"i","claims":` + claims + `,"context":{"scope":"openid"}}` + "\r\n"
	d := NewDecoder(strings.NewReader(input), testOptions())
	event, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	if string(event.Claims) != claims {
		t.Errorf("Claims = %s, want %s", event.Claims, claims)
	}
	if event.Subject != "Zoë 🎉" {
		t.Errorf("Subject = %q", event.Subject)
	}
	if string(event.Context) != `{"scope":"openid"}` {
		t.Errorf("Context = %s", event.Context)
	}
}

func TestDecoderEventsDoNotShareMemory(t *testing.T) {
	input := event("a") + "\n" + strings.Replace(event("b"), `"sub":"s"`, `"sub":"t"`, 1) + "\n"
	d := NewDecoder(strings.NewReader(input), testOptions())
	first, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	claims := string(first.Claims)
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if string(first.Claims) != claims {
		t.Errorf("first event's claims changed to %s after the second Next", first.Claims)
	}
}

func TestDecoderTooLarge(t *testing.T) {
	opts := testOptions()
	opts.MaxEventBytes = 1024
	padded := func(id string, n int) string {
		return `{"id":"` + id + `","type":"id_token.issued","issuer":"i","claims":{"pad":"` + strings.Repeat("x", n) + `"}}`
	}
	exact := padded("exact", 0)
	exact = padded("exact", 1024-len(exact))

	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"long line", event("a") + "\n" + padded("big", 5000) + "\n" + event("c"), []string{"event a", "line 2 too large", "event c"}},
		{"line beyond read buffer", padded("big", 3*readBufferSize) + "\n" + event("b") + "\n", []string{"line 1 too large", "event b"}},
		{"long last line", event("a") + "\n" + padded("big", 5000), []string{"event a", "line 2 too large"}},
		{"exact limit", exact + "\r\n" + event("b"), []string{"event exact", "event b"}},
		{"one byte over", padded("over", 1024-len(padded("over", 0))+1) + "\n" + event("b"), []string{"line 1 too large", "event b"}},
		{"big pretty object", "{\n" + strings.Repeat(`"pad": "`+strings.Repeat("y", 100)+`",`+"\n", 50) + `"id": "x"` + "\n}\n" + event("b"),
			[]string{"line 1 too large", "event b"}},
		{"long line in pretty object", "{\n\"pad\": \"" + strings.Repeat("y", 5000) + "\",\n\"id\": \"x\"\n}\n" + event("b"),
			[]string{"line 1 too large", "event b"}},
		{"big pretty object at end", event("a") + "\n{\n" + strings.Repeat(`"pad": "`+strings.Repeat("y", 100)+`",`+"\n", 50),
			[]string{"event a", "line 2 too large"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(strings.NewReader(tt.input), opts)
			got := summary(drain(t, d))
			if strings.Join(got, "; ") != strings.Join(tt.want, "; ") {
				t.Errorf("results:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestDecoderTooLargeMessage(t *testing.T) {
	opts := testOptions()
	opts.MaxEventBytes = 100
	d := NewDecoder(strings.NewReader(strings.Repeat("x", 300)+"\r\n"), opts)
	_, err := d.Next()
	want := `line 1: event too large: line is 302 bytes including its line ending, more than the limit of 100: send smaller events or raise Options.MaxEventBytes`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
}

// boundedReader records the longest run of bytes without a newline that it
// returns, so a test can check that its input really had a long line.
type boundedReader struct {
	r       io.Reader
	longest int
	current int
}

func (b *boundedReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			b.current = 0
			continue
		}
		b.current++
		b.longest = max(b.longest, b.current)
	}
	return n, err
}

func TestDecoderLongLineMemory(t *testing.T) {
	opts := testOptions()
	opts.MaxEventBytes = 1024
	const lineBytes = 8 << 20
	input := io.MultiReader(
		strings.NewReader(`{"pad":"`),
		io.LimitReader(repeatReader('x'), lineBytes),
		strings.NewReader("\"}\n"+event("b")+"\n"),
	)
	reader := &boundedReader{r: input}
	d := NewDecoder(reader, opts)
	got := summary(drain(t, d))
	if want := "line 1 too large; event b"; strings.Join(got, "; ") != want {
		t.Errorf("results = %q, want %q", got, want)
	}
	if reader.longest < lineBytes {
		t.Fatalf("reader saw a longest line of %d bytes, test input is broken", reader.longest)
	}
	if limit := 2*opts.MaxEventBytes + readBufferSize; cap(d.lineBuf) > limit {
		t.Errorf("line buffer grew to %d bytes for a %d-byte line, want at most %d", cap(d.lineBuf), lineBytes, limit)
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func TestDecoderReadError(t *testing.T) {
	readErr := errors.New("connection reset")
	input := io.MultiReader(strings.NewReader(event("a")+"\n"+event("b")[:30]), iotest.ErrReader(readErr))
	d := NewDecoder(input, testOptions())

	if event, err := d.Next(); err != nil || event.ID != "a" {
		t.Fatalf("first Next = %v, %v, want event a", event, err)
	}
	_, err := d.Next()
	if !errors.Is(err, readErr) {
		t.Fatalf("error = %v, want the read error", err)
	}
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrTooLarge) {
		t.Errorf("read error %q wraps a per-event error", err)
	}
	var fieldErr *Error
	if !errors.As(err, &fieldErr) || fieldErr.Line != 2 {
		t.Errorf("error %#v is not an *Error for line 2", err)
	}
	if want := "line 2: read events: connection reset"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if _, again := d.Next(); again != err {
		t.Errorf("Next after a read error = %v, want the same error", again)
	}
}

func TestDecoderReadErrorInObject(t *testing.T) {
	readErr := errors.New("connection reset")
	input := io.MultiReader(strings.NewReader("{\n\"id\": \"a\",\n"), iotest.ErrReader(readErr))
	d := NewDecoder(input, testOptions())
	_, err := d.Next()
	if !errors.Is(err, readErr) {
		t.Fatalf("error = %v, want the read error", err)
	}
	var fieldErr *Error
	if !errors.As(err, &fieldErr) || fieldErr.Line != 3 {
		t.Errorf("error %v is not an *Error for line 3", err)
	}
}

func TestDecoderOneByteReads(t *testing.T) {
	input := event("a") + "\r\n\n" + prettyEvent("b") + "\n" + `{"type":"x"}` + "\n" + event("d")
	d := NewDecoder(iotest.OneByteReader(strings.NewReader(input)), testOptions())
	got := summary(drain(t, d))
	want := "event a; event b; line 12 invalid; event d"
	if strings.Join(got, "; ") != want {
		t.Errorf("results = %q, want %q", got, want)
	}
}

// eofOnceReader fails the test when it is read again after returning
// io.EOF.
type eofOnceReader struct {
	t    *testing.T
	r    io.Reader
	done bool
}

func (e *eofOnceReader) Read(p []byte) (int, error) {
	if e.done {
		e.t.Error("Read called again after io.EOF")
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		e.done = true
	}
	return n, err
}

func TestDecoderStopsReadingAtEOF(t *testing.T) {
	opts := testOptions()
	opts.MaxEventBytes = 200
	inputs := map[string]string{
		"incomplete object": "{\n\"id\": \"a\",\n" + event("b") + "\n",
		"too large object":  "{\n" + strings.Repeat("\"pad\": \"xxxxxxxxxxxxxxxxxxxx\",\n", 20),
		"ndjson":            event("a") + "\n",
	}
	for name, input := range inputs {
		t.Run(name, func(t *testing.T) {
			d := NewDecoder(&eofOnceReader{t: t, r: strings.NewReader(input)}, opts)
			drain(t, d)
		})
	}
}

func TestDecoderNestedPrefixLines(t *testing.T) {
	// Every line starts an object that the next line continues, so each
	// line would start its own multi-line object if lines read again could
	// start one, and the work would grow with the square of the line count.
	input := strings.Repeat(`{"a":`+"\n", 5000)
	d := NewDecoder(strings.NewReader(input), testOptions())
	got := summary(drain(t, d))
	if want := "line 1 invalid"; strings.Join(got, "; ") != want {
		t.Errorf("results = %q, want %q", got, want)
	}
}

func TestDecoderHugeLimit(t *testing.T) {
	opts := testOptions()
	opts.MaxEventBytes = math.MaxInt
	d := NewDecoder(strings.NewReader(event("a")+"\n"+prettyEvent("b")), opts)
	got := summary(drain(t, d))
	if want := "event a; event b"; strings.Join(got, "; ") != want {
		t.Errorf("results = %q, want %q", got, want)
	}
}
