;; bad_signature: a valid listener except that it imports
;; tokenwire.event_read with type (i64) -> i32 instead of (i32, i32) -> i32,
;; so the host must reject it at load time.
(module
  (import "tokenwire" "event_read" (func $event_read (param i64) (result i32)))

  (memory (export "memory") 1)

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (call $event_read (i64.const 0)))
)
