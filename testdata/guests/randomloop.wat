;; randomloop: tw_on_event calls WASI random_get on a 4 MiB buffer in an
;; endless loop. Each call does milliseconds of work in the host but only a
;; few instructions of the guest's own, so only the host's charge for the
;; bytes random_get writes lets the budget and the deadline stop the loop.
(module
  (import "wasi_snapshot_preview1" "random_get"
    (func $random_get (param i32 i32) (result i32)))
  (memory (export "memory") 65)

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (loop $forever
      (drop (call $random_get (i32.const 0) (i32.const 4194304)))
      (br $forever))
    unreachable)
)
