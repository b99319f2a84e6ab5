package fuzz

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Kinds of finding.
const (
	KindTrap           = "trap"             // the guest trapped
	KindPanic          = "panic"            // the Go SDK recovered a panic in the handler
	KindTimeout        = "timeout"          // tw_on_event ran past the deadline
	KindExit           = "exit"             // the guest called proc_exit
	KindInit           = "init"             // _initialize or tw_init failed
	KindLeak           = "memory-leak"      // memory kept growing over events in one instance
	KindMemoryCap      = "memory-cap"       // one event took memory near memory_limit
	KindInvalidMemory  = "invalid-memory"   // a host call got an out-of-bounds pointer
	KindBudget         = "budget"           // a per-call budget or size limit was exceeded
	KindIgnoredStatus  = "ignored-status"   // the guest went on as if a failed host call succeeded
	KindSignRejected   = "sign-rejected"    // sign rejected the claims under the SET rules
	KindSinkDenied     = "sink-denied"      // emit to a sink that is unknown or not granted
	KindEmitRejected   = "emit-rejected"    // the sink refused the payload
	KindNondeterminism = "nondeterministic" // the same event gave other output in a fresh instance
	KindInternal       = "internal"         // the runtime itself failed
)

// Finding is one defect the fuzzer found, with the event that shows it.
type Finding struct {
	Kind   string
	Detail string
	// Input is the event, minimised when Minimized is true, as the JSON
	// object intake takes; empty for a listener that does not start.
	Input     []byte
	Minimized bool
	// Runs and Elapsed are the fuzzer's counters when it first saw it;
	// Elapsed leaves out compiling the module.
	Runs    int64
	Elapsed time.Duration
	// Count is the number of inputs that showed it.
	Count int64
	// File is the path the input was written to, or empty.
	File string
}

// signature groups findings that are the same defect: the kind and the
// detail with digits removed (trap offsets, lengths and sizes vary).
func (f Finding) signature() string {
	return f.Kind + "\x00" + strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, f.Detail)
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s", f.Kind, f.Detail)
}

// writeInput writes an input that coverage kept to dir as HASH.json.
func writeInput(dir string, raw []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	return os.WriteFile(filepath.Join(dir, hex.EncodeToString(sum[:8])+".json"), append(raw, '\n'), 0o644)
}

// writeCrasher writes the finding's input to dir as KIND-HASH.json and its
// description beside it as KIND-HASH.txt, and returns the .json path.
func writeCrasher(dir string, f Finding, replay string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create crashers directory: %w", err)
	}
	sum := sha256.Sum256(append([]byte(f.signature()+"\x00"), f.Input...))
	base := filepath.Join(dir, f.Kind+"-"+hex.EncodeToString(sum[:6]))
	if err := os.WriteFile(base+".json", append(append([]byte(nil), f.Input...), '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write finding: %w", err)
	}
	if replay == "" {
		replay = "tokenwire replay --module MODULE.wasm"
	}
	note := fmt.Sprintf("%s\nfound after %d runs (%s); minimised: %v\nreplay: %s %s\n",
		f, f.Runs, f.Elapsed.Round(time.Millisecond), f.Minimized, replay, base+".json")
	if err := os.WriteFile(base+".txt", []byte(note), 0o644); err != nil {
		return "", fmt.Errorf("write finding: %w", err)
	}
	return base + ".json", nil
}
