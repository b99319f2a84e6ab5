package listener

import (
	"errors"
	"testing"

	"github.com/tokenwire/tokenwire/abi"
)

// fakeRead returns a read function in the style of event_read over value
// and counts its calls.
func fakeRead(value []byte, calls *int) func([]byte) int32 {
	return func(buf []byte) int32 {
		*calls++
		copy(buf, value)
		return int32(len(value))
	}
}

func TestReadHostUsesSizeHint(t *testing.T) {
	var buf []byte
	calls := 0
	got, err := readHost(fakeRead([]byte("hello"), &calls), &buf, 5)
	if err != nil {
		t.Fatalf("readHost: %v", err)
	}
	if string(got) != "hello" {
		t.Errorf("readHost = %q, want %q", got, "hello")
	}
	if calls != 1 {
		t.Errorf("read called %d times, want 1", calls)
	}
}

func TestReadHostGrowsAndRereads(t *testing.T) {
	buf := make([]byte, 2)
	calls := 0
	got, err := readHost(fakeRead([]byte("a longer value"), &calls), &buf, 0)
	if err != nil {
		t.Fatalf("readHost: %v", err)
	}
	if string(got) != "a longer value" {
		t.Errorf("readHost = %q, want %q", got, "a longer value")
	}
	if calls != 2 {
		t.Errorf("read called %d times, want 2", calls)
	}
	if cap(buf) < len("a longer value") {
		t.Errorf("buffer capacity %d after growing, want at least %d", cap(buf), len("a longer value"))
	}
}

func TestReadHostReusesBuffer(t *testing.T) {
	buf := make([]byte, 64)
	first := &buf[0]
	calls := 0
	got, err := readHost(fakeRead([]byte("short"), &calls), &buf, 5)
	if err != nil {
		t.Fatalf("readHost: %v", err)
	}
	if &got[0] != first {
		t.Error("readHost allocated a new buffer although the old one was large enough")
	}
}

func TestReadHostEmptyValue(t *testing.T) {
	var buf []byte
	calls := 0
	got, err := readHost(fakeRead(nil, &calls), &buf, 0)
	if err != nil {
		t.Fatalf("readHost: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("readHost = %q, want empty", got)
	}
}

func TestReadHostReturnsStatus(t *testing.T) {
	var buf []byte
	read := func([]byte) int32 { return int32(abi.StatusNotFound) }
	_, err := readHost(read, &buf, 0)
	if !errors.Is(err, abi.StatusNotFound) {
		t.Errorf("readHost error = %v, want %v", err, abi.StatusNotFound)
	}
}

func TestReadHostSizeChangeBetweenReads(t *testing.T) {
	var buf []byte
	sizes := []int32{10, 12}
	read := func([]byte) int32 {
		size := sizes[0]
		sizes = sizes[1:]
		return size
	}
	if _, err := readHost(read, &buf, 0); err == nil {
		t.Error("readHost accepted a value whose size changed between reads")
	}
}

func TestSetErrorTruncatingHalvesMessage(t *testing.T) {
	var sent []string
	set := func(msg string) int32 {
		sent = append(sent, msg)
		if len(msg) > 10 {
			return int32(abi.StatusTooLarge)
		}
		return 0
	}
	setErrorTruncating(set, "0123456789abcdefghijklmnopqrstuvwxyz0123")
	want := []string{"0123456789abcdefghijklmnopqrstuvwxyz0123", "0123456789abcdefghij", "0123456789"}
	if len(sent) != len(want) {
		t.Fatalf("set_error calls = %q, want %q", sent, want)
	}
	for i := range want {
		if sent[i] != want[i] {
			t.Errorf("set_error call %d = %q, want %q", i, sent[i], want[i])
		}
	}
}

func TestSetErrorTruncatingKeepsValidUTF8(t *testing.T) {
	var last string
	set := func(msg string) int32 {
		last = msg
		if len(msg) > 4 {
			return int32(abi.StatusTooLarge)
		}
		return 0
	}
	// "añb€" is 1+2+1+3 = 7 bytes; half is 3 bytes, "añ".
	setErrorTruncating(set, "añb€")
	if last != "añ" {
		t.Errorf("last set_error message = %q, want %q", last, "añ")
	}

	// "a€€" is 1+3+3 = 7 bytes; half is 3 bytes, which cuts the first "€"
	// after 2 of its 3 bytes.
	setErrorTruncating(set, "a€€")
	if last != "a" {
		t.Errorf("last set_error message = %q, want %q", last, "a")
	}

	// "a€" is 4 bytes and accepted whole.
	setErrorTruncating(set, "a€")
	if last != "a€" {
		t.Errorf("last set_error message = %q, want %q", last, "a€")
	}
}

func TestSetErrorTruncatingStopsAtEmpty(t *testing.T) {
	calls := 0
	set := func(string) int32 {
		calls++
		return int32(abi.StatusTooLarge)
	}
	setErrorTruncating(set, "abcd")
	// "abcd", "ab", "a", "".
	if calls != 4 {
		t.Errorf("set_error called %d times, want 4", calls)
	}
}
