;; on_event_bad_type: a valid listener except that tw_on_event has type
;; () -> i32 instead of (i32) -> i32, so the host must reject it at load time.
(module
  (memory (export "memory") 1)

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (result i32)
    (i32.const 0))
)
