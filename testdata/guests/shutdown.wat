;; shutdown: emits "bye" to the sink "stdout" from tw_shutdown, so tests can
;; count how many instances the host shut down cleanly. tw_on_event does
;; nothing and returns 0.
(module
  (import "tokenwire" "emit" (func $emit (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1 1)
  (data (i32.const 0) "stdout")
  (data (i32.const 8) "bye")

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (i32.const 0))

  (func (export "tw_shutdown")
    (drop (call $emit (i32.const 0) (i32.const 6) (i32.const 8) (i32.const 3))))
)
