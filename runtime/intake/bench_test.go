package intake

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// ndjsonEvents returns n events of exactly size bytes each, newline
// included, as NDJSON. Each is an access token event with RFC 9068 claims
// and a context object, padded with a "pad" claim.
func ndjsonEvents(n, size int) []byte {
	var out bytes.Buffer
	for i := range n {
		line := fmt.Sprintf(`{"type":"access_token.issued","claims":{"iss":"https://authorization-server.example.com/","exp":1639528912,"aud":"https://rs.example.com/","sub":"5ba552d67","client_id":"s6BhdRkqt3","iat":1618354090,"jti":"%032d","scope":"openid profile reademail","pad":"%%s"},"context":{"grant_type":"client_credentials","ip":"203.0.113.7"}}`, i)
		pad := size - len(line) + len("%s") - 1
		out.WriteString(fmt.Sprintf(line, strings.Repeat("x", pad)))
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func BenchmarkDecodeNDJSON(b *testing.B) {
	const events = 1000
	input := ndjsonEvents(events, 1024)
	if len(input) != events*1024 {
		b.Fatalf("input is %d bytes, want %d", len(input), events*1024)
	}
	opts := testOptions()
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()

	for b.Loop() {
		d := NewDecoder(bytes.NewReader(input), opts)
		count := 0
		for {
			_, err := d.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			count++
		}
		if count != events {
			b.Fatalf("decoded %d events, want %d", count, events)
		}
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkEncode(b *testing.B) {
	event, err := Normalize(bytes.TrimSpace(ndjsonEvents(1, 1024)), testOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = AppendEncode(buf[:0], event)
	}
	b.SetBytes(int64(len(buf)))
}
