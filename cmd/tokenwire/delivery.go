package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/tokenwire/tokenwire/internal/server"
	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/delivery"
	"github.com/tokenwire/tokenwire/runtime/sink"
)

// printNetworkSinks returns options that make replay write what listeners
// emit to network sinks as lines on out. Replay is a test tool, so it
// never delivers to a receiver and never touches the outbox.
func printNetworkSinks(cfg *config.Config, out io.Writer) []twruntime.Option {
	var opts []twruntime.Option
	for _, sc := range cfg.Sinks {
		if sc.IsNetwork() {
			opts = append(opts, twruntime.WithSink(sc.Name, sink.NewLines(out)))
		}
	}
	return opts
}

// openDelivery opens the outbox of cfg and returns it with the intake
// options that journal events, respond with 503 while a sink queue is
// full, and serve set-poll and the SSF metadata.
func openDelivery(cfg *config.Config, logger *slog.Logger) (*delivery.Delivery, []server.Option, error) {
	d, err := delivery.Open(cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	opts := []server.Option{
		server.WithCongestion(d.Congested, d.RetryAfter().Std()),
		server.WithRoute("GET /.well-known/ssf-configuration", d.SSFConfiguration(cfg.Issuer)),
	}
	if j := d.Journal(); j != nil {
		opts = append(opts, server.WithJournal(j))
		n, _ := j.Len()
		logger.Info("intake journal on", "path", cfg.Outbox.Path, "journaled", n)
	}
	for name, p := range d.Polls() {
		opts = append(opts, server.WithRoute("POST "+delivery.PollPath(name), p))
	}
	return d, opts, nil
}

// startKafkaIntake consumes cfg's kafka_intake topic into srv, when one is
// set, and returns the function that stops it and waits.
func startKafkaIntake(ctx context.Context, cfg *config.Config, srv *server.Server, logger *slog.Logger) (stop func()) {
	if cfg.KafkaIntake.Topic == "" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.ConsumeKafka(ctx, cfg.KafkaIntake); err != nil {
			logger.Error("kafka intake stopped", "error", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
