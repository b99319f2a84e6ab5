;; init_fails: tw_init calls set_error("bad config") and returns 1, so the
;; host must fail the instance before it delivers any event.
;; tw_on_event returns 0 but should never run.
(module
  (import "tokenwire" "set_error" (func $set_error (param i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "bad config") ;; 10 bytes

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_init") (param $config_len i32) (result i32)
    (drop (call $set_error (i32.const 0) (i32.const 10)))
    (i32.const 1))

  (func (export "tw_on_event") (param i32) (result i32)
    (i32.const 0))
)
