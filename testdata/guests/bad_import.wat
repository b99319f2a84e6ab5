;; bad_import: a valid listener except that it imports env.foo. Only the
;; import modules "tokenwire" and "wasi_snapshot_preview1" are allowed, so
;; the host must reject it at load time.
(module
  (import "env" "foo" (func $foo (param i32) (result i32)))

  (memory (export "memory") 1)

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param $event_len i32) (result i32)
    (call $foo (local.get $event_len)))
)
