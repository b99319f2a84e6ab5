;; exit: tw_on_event calls WASI proc_exit with exit code 3 on every event.
;; proc_exit does not return. If a host implementation returned anyway,
;; the unreachable after the call traps.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  (memory (export "memory") 1)

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (call $proc_exit (i32.const 3))
    unreachable)
)
