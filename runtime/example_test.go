package runtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

// An identity server written in Go embeds a Runtime and dispatches each
// token it issues. Here the listener is a guest that prints each event.
func Example() {
	ctx := context.Background()
	cfg := &config.Config{
		Sinks: []config.Sink{{Name: "stdout", Type: "stdout"}},
		Listeners: []config.Listener{{
			Name:   "echo",
			Module: "../testdata/guests/echo.wasm",
			Sinks:  []string{"stdout"},
		}},
	}
	if err := cfg.Normalize(); err != nil {
		fmt.Println(err)
		return
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, err := runtime.New(ctx, cfg, runtime.WithLogger(logger))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close(ctx)

	event, err := intake.Normalize([]byte(`{"type":"id_token.issued","claims":{"iss":"https://issuer.example.com","sub":"alice","aud":"client-a","iat":1523304728,"jti":"a1"}}`), intake.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := rt.Dispatch(ctx, event); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {"id":"a1","type":"id_token.issued","time":1523304728,"issuer":"https://issuer.example.com","client_id":"client-a","subject":"alice","claims":{"iss":"https://issuer.example.com","sub":"alice","aud":"client-a","iat":1523304728,"jti":"a1"}}
}
