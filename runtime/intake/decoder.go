package intake

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/tokenwire/tokenwire/abi"
)

// readBufferSize is the size of the Decoder's read buffer. Lines longer
// than this are read in several chunks.
const readBufferSize = 16 << 10

// utf8BOM is the byte order mark some Windows tools put at the start of a
// UTF-8 file. RFC 8259 section 8.1 allows a parser to ignore it.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Decoder reads events from NDJSON (one JSON object per line) or from one
// JSON object spread over several lines, such as a pretty-printed body.
//
// Blank lines are skipped, a line may end in "\n" or "\r\n", and a UTF-8
// byte order mark at the start of the input is ignored. A line that
// starts an object but does not finish it starts a multi-line object, which
// ends at the line where the object's JSON value is complete. A line longer
// than Options.MaxEventBytes is never held whole in memory: the rest of it
// is skipped and reported with ErrTooLarge. A multi-line object larger than
// the limit is skipped to its end the same way.
//
// When a multi-line object turns out to be malformed, the error names its
// first line, and the lines read after it are read again one at a time.
// Those that are a complete JSON object by themselves are returned as
// events or errors, so an NDJSON line cut short in transit costs only that
// line. Lines are read again at most once, which keeps the work linear in
// the input size. The other lines, and the lines after the malformed object
// up to the next line that starts with '{', are taken as the rest of the
// malformed object and skipped without an error of their own.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	reader *bufio.Reader
	opts   Options
	// line is the number of lines read from reader.
	line int
	// lineBuf is the buffer of the current line.
	lineBuf []byte
	// objectBuf is the buffer of the current multi-line object.
	objectBuf []byte
	// compactBuf is the buffer normalize compacts each event into.
	compactBuf []byte
	// retry contains the lines of a malformed multi-line object that are still
	// to be read again one at a time.
	retry []retryLine
	// skipping is set after a malformed multi-line object, while the lines
	// that follow it do not start with '{'.
	skipping bool
	// err is returned by every call to Next once it is set: io.EOF or a
	// read error.
	err error
}

// retryLine is one line of a malformed multi-line object.
type retryLine struct {
	number int
	text   []byte
}

// NewDecoder returns a Decoder that reads events from r.
func NewDecoder(r io.Reader, opts Options) *Decoder {
	return &Decoder{
		reader: bufio.NewReaderSize(r, readBufferSize),
		opts:   opts.withDefaults(),
	}
}

// Next returns the next event, or io.EOF after the last one.
//
// An event that fails validation yields an *Error that carries the event's
// first line and wraps ErrInvalid or ErrTooLarge, and the next call goes on
// with the following line. So does an event whose id could not be
// generated because reading Options.Random failed. An error from the
// underlying reader is returned as an *Error that wraps it, and every later
// call returns it again.
func (d *Decoder) Next() (*abi.Event, error) {
	for {
		// Lines to read again come first, because the input may have ended
		// right after them.
		if len(d.retry) > 0 {
			next := d.retry[0]
			d.retry = d.retry[1:]
			event, err := d.reread(next)
			if event == nil && err == nil {
				continue
			}
			return event, err
		}
		if d.err != nil {
			return nil, d.err
		}

		number := d.line + 1
		line, size, err := d.readLine(d.lineBuf[:0], d.opts.MaxEventBytes+len("\r\n"), nil)
		d.lineBuf = line
		if err != nil {
			return nil, d.fail(number, err)
		}
		d.line++

		content := trimLineEnding(line)
		if size > len(line) || len(content) > d.opts.MaxEventBytes {
			d.skipping = false
			fieldErr := tooLarge("line is %d bytes including its line ending, more than the limit of %d", size, d.opts.MaxEventBytes)
			fieldErr.Line = number
			return nil, fieldErr
		}
		if number == 1 {
			line = bytes.TrimPrefix(line, utf8BOM)
			content = bytes.TrimPrefix(content, utf8BOM)
		}
		trimmed := trimSpace(content)
		if len(trimmed) == 0 {
			continue
		}
		if d.skipping {
			if trimmed[0] != '{' {
				continue
			}
			d.skipping = false
		}

		event, fieldErr := normalize(trimmed, d.opts, &d.compactBuf)
		if fieldErr == nil {
			return event, nil
		}
		if trimmed[0] == '{' {
			if syntaxErr := validateJSON(trimmed); syntaxErr != nil && syntaxErr.Incomplete {
				return d.readObject(number, line)
			}
		}
		fieldErr.Line = number
		return nil, fieldErr
	}
}

// fail records a read error as sticky and returns it.
func (d *Decoder) fail(number int, err error) error {
	if errors.Is(err, io.EOF) {
		d.err = io.EOF
	} else {
		d.err = &Error{Line: number, Err: fmt.Errorf("read events: %w", err)}
	}
	return d.err
}

// readLine reads the next line, including its line ending, and appends to
// dst as much of it as fits within keep bytes of len(dst). It passes every
// byte of the line to sc when sc is not nil. It returns the extended dst and
// the full size of the line. It returns io.EOF only when no byte was left.
func (d *Decoder) readLine(dst []byte, keep int, sc *scanner) ([]byte, int, error) {
	size := 0
	for {
		chunk, err := d.reader.ReadSlice('\n')
		size += len(chunk)
		if room := keep - len(dst); room > 0 {
			dst = append(dst, chunk[:min(room, len(chunk))]...)
		}
		if sc != nil {
			sc.feed(chunk)
		}

		switch {
		case err == nil:
			return dst, size, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && size > 0:
			return dst, size, nil
		default:
			return dst, size, err
		}
	}
}

// readObject reads the rest of a multi-line object whose first line, with
// its line ending, is first, and returns the event or the error for it.
func (d *Decoder) readObject(start int, first []byte) (*abi.Event, error) {
	var sc scanner
	sc.feed(first)
	object := append(d.objectBuf[:0], first...)
	defer func() { d.objectBuf = object[:0] }()
	firstEnd := len(object)
	var lineEnds []int // offset in object just past each line after the first

	for {
		number := d.line + 1
		lineStart := len(object)
		var size int
		var err error
		object, size, err = d.readLine(object, d.opts.MaxEventBytes+1, &sc)
		if errors.Is(err, io.EOF) {
			d.err = io.EOF
			d.retryLater(object, firstEnd, lineEnds, start)
			return nil, objectError(start, "the object starting on this line is incomplete at the end of input")
		}
		if err != nil {
			return nil, d.fail(number, err)
		}
		d.line++
		lineEnds = append(lineEnds, len(object))

		if size > len(object)-lineStart || len(object) > d.opts.MaxEventBytes {
			return nil, d.skipObject(start, &sc)
		}
		if sc.failed() {
			d.retryLater(object, firstEnd, lineEnds, start)
			d.skipping = true
			return nil, objectError(start, "malformed JSON in the object starting on this line: line %d, column %d: %s",
				start+sc.err.Line, sc.err.Column+1, sc.err.Msg)
		}
		if sc.complete {
			event, fieldErr := normalize(trimSpace(object), d.opts, &d.compactBuf)
			if fieldErr != nil {
				fieldErr.Line = start
				return nil, fieldErr
			}
			return event, nil
		}
	}
}

// objectError returns an ErrInvalid error for the multi-line object that
// starts at line start.
func objectError(start int, format string, args ...any) *Error {
	fieldErr := invalidEvent(format, args...)
	fieldErr.Line = start
	return fieldErr
}

// retryLater queues the lines of a malformed multi-line object after its
// first line, which end at lineEnds in object, to be read again one at a
// time.
func (d *Decoder) retryLater(object []byte, firstEnd int, lineEnds []int, start int) {
	text := append([]byte(nil), object[firstEnd:]...)
	lineStart := 0
	for i, end := range lineEnds {
		end -= firstEnd
		d.retry = append(d.retry, retryLine{number: start + 1 + i, text: text[lineStart:end:end]})
		lineStart = end
	}
}

// skipObject reads and drops the rest of a multi-line object that exceeds
// Options.MaxEventBytes, up to the end of the line where its JSON value
// ends or turns out to be malformed, and returns the ErrTooLarge error for
// it.
func (d *Decoder) skipObject(start int, sc *scanner) error {
	for !sc.complete && !sc.failed() {
		number := d.line + 1
		_, _, err := d.readLine(nil, 0, sc)
		if errors.Is(err, io.EOF) {
			d.err = io.EOF
			break
		}
		if err != nil {
			return d.fail(number, err)
		}
		d.line++
	}
	d.skipping = sc.failed()
	fieldErr := tooLarge("the object starting on this line is more than the limit of %d bytes", d.opts.MaxEventBytes)
	fieldErr.Line = start
	return fieldErr
}

// reread processes one line of a malformed multi-line object on its own. It
// returns nil and nil for a line that is not a JSON object by itself,
// because the error for the object's first line covers it.
func (d *Decoder) reread(line retryLine) (*abi.Event, error) {
	trimmed := trimSpace(trimLineEnding(line.text))
	if len(trimmed) == 0 || trimmed[0] != '{' || validateJSON(trimmed) != nil {
		return nil, nil
	}
	event, fieldErr := normalize(trimmed, d.opts, &d.compactBuf)
	if fieldErr != nil {
		fieldErr.Line = line.number
		return nil, fieldErr
	}
	return event, nil
}

// trimLineEnding removes a trailing "\n" or "\r\n".
func trimLineEnding(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}
