// Command planted is a tokenwire listener with defects planted on purpose,
// for testing "tokenwire fuzz" and package fuzzguest: each must find every
// defect, and nothing when none is switched on.
//
// For every event the listener masks the subject, signs a Security Event
// Token that names the client and the masked subject, and emits it to the
// stdout sink. The config selects at most one defect:
//
//	{"bug": "unicode-subject"}  masks by bytes, and panics when that cuts a
//	                            multi-byte character in the subject
//	{"bug": "leak"}             keeps 16 KiB per event that it never frees
//	{"bug": "deep-loop"}        loops forever on claims nested 32 deep
//	{"bug": "sign-exp"}         adds exp to the SET when the token has "act",
//	                            which the host rejects
//	{"bug": "rare-client"}      panics on a client id with "@" and a domain
//	                            of fewer than four labels
//	{"bug": "random-output"}    puts a random number in the SET, so the
//	                            same event gives other output each time
//	{}                          none: the clean listener
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -buildvcs=false -o planted.wasm .

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode/utf8"

	listener "github.com/tokenwire/tokenwire/guests/go"
)

const eventType = "https://tokenwire.invalid/event-type/token-issued"

var (
	bug string
	// kept holds the buffers that the leak defect never frees.
	kept [][]byte
)

func init() {
	listener.HandleInit(configure)
	listener.HandleEvent(handle)
}

func main() {}

func configure(config []byte) error {
	var c struct {
		Bug string `json:"bug"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return fmt.Errorf("planted: invalid config: %w", err)
	}
	switch c.Bug {
	case "", "unicode-subject", "leak", "deep-loop", "sign-exp", "rare-client", "random-output":
	default:
		return fmt.Errorf("planted: unknown bug %q", c.Bug)
	}
	bug = c.Bug
	return nil
}

func handle(e *listener.Event) error {
	claims, err := e.ClaimMap()
	if err != nil {
		return err
	}
	if bug == "leak" {
		kept = append(kept, make([]byte, 16<<10))
	}
	if bug == "deep-loop" {
		walk(e.Claims)
	}
	details := map[string]any{"client_id": e.ClientID, "subject": mask(e.Subject)}
	if bug == "rare-client" {
		details["tenant"] = tenant(e.ClientID)
	}
	if bug == "random-output" {
		details["trace"] = rand.Uint64()
	}
	set := map[string]any{"events": map[string]any{eventType: details}}
	if _, ok := claims["act"]; ok && bug == "sign-exp" {
		set["exp"] = e.Time + 300
	}
	token, err := listener.SignJSON(set)
	if err != nil {
		return err
	}
	return listener.Emit("stdout", []byte(token))
}

// mask keeps the first half of the subject's characters, at most 32, and
// stars the rest, at most 32.
func mask(subject string) string {
	if bug == "unicode-subject" {
		// The defect: it counts characters but cuts bytes.
		n := utf8.RuneCountInString(subject)
		masked := subject[:n/2] + strings.Repeat("*", n-n/2)
		if !utf8.ValidString(masked) {
			panic("masked subject is not valid UTF-8")
		}
		return masked
	}
	r := []rune(subject)
	keep := min(len(r)/2, 32)
	return string(r[:keep]) + strings.Repeat("*", min(len(r)-keep, 32))
}

// tenant returns the project of a service-account client id
// ("name@project.iam.example.com"), or "".
func tenant(clientID string) string {
	_, domain, ok := strings.Cut(clientID, "@")
	if !ok {
		return ""
	}
	labels := strings.Split(domain, ".")
	return labels[len(labels)-4]
}

// walk visits every value in a JSON text with a stack of at most 32
// containers. The defect: when the stack is full it waits for room that
// never comes.
func walk(data []byte) {
	var stack [32]byte
	depth := 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString:
			if escaped {
				escaped = false
			} else if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			for depth == len(stack) {
				// waits for room
			}
			stack[depth] = c
			depth++
		case c == '}' || c == ']':
			if depth > 0 {
				depth--
			}
		}
	}
}
