;; claimfilter_adapter: the main module of an Extism plugin that runs a
;; tokenwire listener, linked under the name "listener", unchanged. Extism
;; calls exports that take no parameters and return an i32, so each export
;; here passes the length of the call's Extism input on to the listener:
;; "init" calls tw_init(config_len) with the config as input, and
;; "on_event" calls tw_on_event(event_len) with the event as input. The
;; listener reads those bytes through the host functions of module
;; "tokenwire", and its result becomes the call's return code. Extism
;; runs the listener's _initialize before the first call.
;; Rebuild with: wat2wasm claimfilter_adapter.wat -o claimfilter_adapter.wasm
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "listener" "tw_init" (func $tw_init (param i32) (result i32)))
  (import "listener" "tw_on_event" (func $tw_on_event (param i32) (result i32)))

  (func (export "init") (result i32)
    (call $tw_init (i32.wrap_i64 (call $input_length))))

  (func (export "on_event") (result i32)
    (call $tw_on_event (i32.wrap_i64 (call $input_length))))
)
