package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// cmdDLQ lists, replays or drops the dead letters of the outbox. The
// outbox file is locked by a running "tokenwire run", so stop it first.
func cmdDLQ(_ context.Context, args []string, stdout, stderr io.Writer) int {
	const synopsis = "list|replay|drop --config FILE [--sink NAME] [--all] [SEQ ...]"
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay" && args[0] != "drop") {
		fmt.Fprintf(stderr, "Usage: tokenwire dlq %s\n\n  list    print each dead letter as one JSON line\n  replay  move dead letters back to the tail of their sink's queue\n  drop    delete dead letters\n", synopsis)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return exitOK
		}
		return exitUsage
	}
	action := args[0]
	fs := newFlagSet("dlq "+action, synopsis, stderr)
	configPath := fs.String("config", "", "config `file` whose outbox.path holds the dead letters")
	sinkName := fs.String("sink", "", "only the dead letters of this `sink`")
	all := fs.Bool("all", false, "with drop and replay: every dead letter of --sink")
	if err := fs.Parse(args[1:]); err != nil {
		return parseStatus(err)
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "tokenwire dlq: --config is required")
		return exitUsage
	}
	var seqs []uint64
	for _, a := range fs.Args() {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "tokenwire dlq: %q is not a sequence number: give the seq values \"dlq list\" prints\n", a)
			return exitUsage
		}
		seqs = append(seqs, n)
	}
	if action != "list" {
		switch {
		case *sinkName == "":
			fmt.Fprintf(stderr, "tokenwire dlq %s: --sink is required\n", action)
			return exitUsage
		case len(seqs) == 0 && !*all:
			fmt.Fprintf(stderr, "tokenwire dlq %s: give sequence numbers, or --all for every dead letter of %s\n", action, *sinkName)
			return exitUsage
		case len(seqs) > 0 && *all:
			fmt.Fprintf(stderr, "tokenwire dlq %s: give sequence numbers or --all, not both\n", action)
			return exitUsage
		}
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "tokenwire dlq: %v\n", err)
		return exitUsage
	}
	if cfg.Outbox.Path == "" {
		fmt.Fprintf(stderr, "tokenwire dlq: %s sets no outbox.path, so there are no dead letters\n", *configPath)
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
	if *sinkName != "" {
		found := false
		for _, n := range names {
			found = found || n == *sinkName
		}
		if !found {
			fmt.Fprintf(stderr, "tokenwire dlq: the outbox %s has no queue for sink %q\n", cfg.Outbox.Path, *sinkName)
			return exitUsage
		}
		names = []string{*sinkName}
	}
	if action != "list" && *all {
		seqs = nil // every dead letter
	}
	enc := json.NewEncoder(stdout)
	for _, name := range names {
		q, err := store.Queue(name, outbox.Limits{})
		if err != nil {
			fmt.Fprintf(stderr, "tokenwire dlq: %v\n", err)
			return exitFailure
		}
		var n int
		switch action {
		case "list":
			dead, err := q.DeadLetters()
			if err != nil {
				fmt.Fprintf(stderr, "tokenwire dlq: %v\n", err)
				return exitFailure
			}
			for _, r := range dead {
				_ = enc.Encode(dlqEntry{Sink: name, Seq: r.Seq, Attempts: r.Attempts, Enqueued: r.Enqueued.UTC(), Reason: r.Reason, Payload: string(r.Payload)})
			}
			continue
		case "replay":
			n, err = q.Replay(seqs)
		case "drop":
			n, err = q.Drop(seqs)
		}
		if err != nil {
			fmt.Fprintf(stderr, "tokenwire dlq: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(stderr, "%s: %d dead letter(s) %s\n", name, n, map[string]string{"replay": "moved back to the queue", "drop": "deleted"}[action])
	}
	return exitOK
}
