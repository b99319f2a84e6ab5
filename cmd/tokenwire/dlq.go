package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/tokenwire/tokenwire/internal/outbox"
	"github.com/tokenwire/tokenwire/runtime/config"
)

// dlqEntry is one dead letter as "dlq list" prints it, one JSON object a
// line.
type dlqEntry struct {
	Sink     string    `json:"sink"`
	Seq      uint64    `json:"seq"`
	Attempts int       `json:"attempts"`
	Enqueued time.Time `json:"enqueued"`
	Reason   string    `json:"reason"`
	Payload  string    `json:"payload"`
}

// dlqRequest is a parsed "tokenwire dlq" command line.
type dlqRequest struct {
	action     string // list, replay or drop
	configPath string
	sink       string   // empty: every sink
	seqs       []uint64 // nil with --all: every dead letter
}

// cmdDLQ lists, replays or drops the dead letters of the outbox. The
// outbox file is locked by a running "tokenwire run", so stop it first.
func cmdDLQ(_ context.Context, args []string, stdout, stderr io.Writer) int {
	req, code := parseDLQ(args, stderr)
	if req == nil {
		return code
	}
	cfg, err := config.Load(req.configPath)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire dlq: %v\n", err)
		return exitUsage
	}
	if cfg.Outbox.Path == "" {
		fmt.Fprintf(stderr, "tokenwire dlq: %s sets no outbox.path, so there are no dead letters\n", req.configPath)
		return exitUsage
	}
	// Opening a missing outbox would create an empty one, which hides a
	// wrong outbox.path behind an empty list.
	if _, err := os.Stat(cfg.Outbox.Path); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "tokenwire dlq: outbox %s does not exist: no daemon has run with %s yet, or its outbox.path names another file\n", cfg.Outbox.Path, req.configPath)
		return exitUsage
	}
	store, err := outbox.Open(cfg.Outbox.Path, outbox.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire dlq: %v\n", err)
		return exitFailure
	}
	defer store.Close()

	names, err := store.Sinks()
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire dlq: %v\n", err)
		return exitFailure
	}
	if req.sink != "" {
		if !slices.Contains(names, req.sink) {
			fmt.Fprintf(stderr, "tokenwire dlq: the outbox %s has no queue for sink %q\n", cfg.Outbox.Path, req.sink)
			return exitUsage
		}
		names = []string{req.sink}
	}
	listed := 0
	for _, name := range names {
		n, err := runDLQ(store, name, req, stdout, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "tokenwire dlq: %v\n", err)
			return exitFailure
		}
		listed += n
	}
	if req.action == "list" && listed == 0 {
		// stdout stays empty for scripts; this note is for a person.
		fmt.Fprintf(stderr, "tokenwire dlq: no dead letters in %s\n", cfg.Outbox.Path)
	}
	return exitOK
}

// parseDLQ parses the command line. It returns nil and the exit status
// when the command line is invalid or asked for help.
func parseDLQ(args []string, stderr io.Writer) (*dlqRequest, int) {
	const flagsSynopsis = "--config FILE [--sink NAME] [--all] [SEQ ...]"
	const synopsis = "list|replay|drop " + flagsSynopsis
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay" && args[0] != "drop") {
		fmt.Fprintf(stderr, "Usage: tokenwire dlq %s\n\n  list    print each dead letter as one JSON line\n  replay  move dead letters back to the tail of their sink's queue\n  drop    delete dead letters\n", synopsis)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil, exitOK
		}
		return nil, exitUsage
	}
	req := &dlqRequest{action: args[0]}
	fs := newFlagSet("dlq "+req.action, flagsSynopsis, stderr)
	fs.StringVar(&req.configPath, "config", "", "config `file` whose outbox.path holds the dead letters")
	fs.StringVar(&req.sink, "sink", "", "only the dead letters of this `sink`")
	all := fs.Bool("all", false, "with drop and replay: every dead letter of --sink")
	positional, err := parseArgs(fs, args[1:])
	if err != nil {
		return nil, parseStatus(err)
	}
	if req.configPath == "" {
		fmt.Fprintln(stderr, "tokenwire dlq: --config is required")
		return nil, exitUsage
	}
	for _, a := range positional {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "tokenwire dlq: %q is not a sequence number: give the seq values \"dlq list\" prints\n", a)
			return nil, exitUsage
		}
		req.seqs = append(req.seqs, n)
	}
	if req.action == "list" {
		return req, exitOK
	}
	switch {
	case req.sink == "":
		fmt.Fprintf(stderr, "tokenwire dlq %s: --sink is required\n", req.action)
		return nil, exitUsage
	case len(req.seqs) == 0 && !*all:
		fmt.Fprintf(stderr, "tokenwire dlq %s: give sequence numbers, or --all for every dead letter of %s\n", req.action, req.sink)
		return nil, exitUsage
	case len(req.seqs) > 0 && *all:
		fmt.Fprintf(stderr, "tokenwire dlq %s: give sequence numbers or --all, not both\n", req.action)
		return nil, exitUsage
	}
	return req, exitOK
}

// runDLQ carries out req on the dead letters of the sink name and returns
// the number of dead letters it listed, moved or deleted.
func runDLQ(store *outbox.Store, name string, req *dlqRequest, stdout, stderr io.Writer) (int, error) {
	q, err := store.Queue(name, outbox.Limits{})
	if err != nil {
		return 0, err
	}
	switch req.action {
	case "list":
		dead, err := q.DeadLetters()
		if err != nil {
			return 0, err
		}
		enc := json.NewEncoder(stdout)
		for _, r := range dead {
			if err := enc.Encode(dlqEntry{Sink: name, Seq: r.Seq, Attempts: r.Attempts, Enqueued: r.Enqueued.UTC(), Reason: r.Reason, Payload: string(r.Payload)}); err != nil {
				return 0, err
			}
		}
		return len(dead), nil
	case "replay":
		n, err := q.Replay(req.seqs)
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(stderr, "%s: %d dead letter(s) moved back to the queue\n", name, n)
		return n, nil
	case "drop":
		n, err := q.Drop(req.seqs)
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(stderr, "%s: %d dead letter(s) deleted\n", name, n)
		return n, nil
	}
	return 0, nil
}
