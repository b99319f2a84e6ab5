package extism_test

import (
	"context"
	"strings"
	"testing"
)

// TestListenerPlugin runs each claimfilter build in an Extism plugin as
// BenchmarkExtism does and checks what it emits, so the benchmark cannot
// time calls that fail.
func TestListenerPlugin(t *testing.T) {
	ctx := context.Background()
	event := benchEvent()
	if len(event) != benchEventBytes {
		t.Fatalf("benchmark event is %d bytes, expected %d", len(event), benchEventBytes)
	}
	for _, guest := range []string{"claimfilter", "claimfilter_c"} {
		path := listenerModules[guest]
		t.Run(guest+"/emit", func(t *testing.T) {
			var emitted []string
			lp, err := newListenerPlugin(ctx, path, 500, claimfilterConfig, "stdout", func(payload []byte) {
				emitted = append(emitted, string(payload))
			})
			if err != nil {
				t.Fatal(err)
			}
			defer lp.Close(ctx)
			// The second event checks that tw_init ran once and its
			// config stays in effect.
			for i := range 2 {
				if err := lp.onEvent(ctx, event); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
			}
			if len(emitted) != 2 {
				t.Fatalf("emitted %d payloads for 2 events, expected 2: %q", len(emitted), emitted)
			}
			for i, payload := range emitted {
				if payload != claimfilterOutput {
					t.Errorf("payload %d is %q, expected %q", i, payload, claimfilterOutput)
				}
			}
		})
		t.Run(guest+"/invalid_config", func(t *testing.T) {
			lp, err := newListenerPlugin(ctx, path, 0, []byte(`{"sink":"stdout"}`), "stdout", func([]byte) {})
			if err == nil {
				lp.Close(ctx)
				t.Fatal("tw_init accepted a config without claims")
			}
			if !strings.Contains(err.Error(), `missing \"claims\"`) {
				t.Errorf("error %q does not carry the listener's set_error message", err)
			}
		})
		t.Run(guest+"/unknown_sink", func(t *testing.T) {
			config := []byte(`{"claims":["sub"],"sink":"audit"}`)
			lp, err := newListenerPlugin(ctx, path, 0, config, "stdout", func([]byte) {
				t.Error("emit to an unknown sink reached the sink")
			})
			if err != nil {
				t.Fatal(err)
			}
			defer lp.Close(ctx)
			if err := lp.onEvent(ctx, event); err == nil {
				t.Error("tw_on_event succeeded although emit returned NOT_FOUND")
			}
		})
	}
}
