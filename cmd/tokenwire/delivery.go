package main

import (
	"log/slog"

	"github.com/tokenwire/tokenwire/internal/server"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/delivery"
)

// openDelivery opens the outbox of cfg and returns it with the intake
// options that journal events, answer 503 while a sink queue is full and
// serve set-poll and SSF metadata.
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
