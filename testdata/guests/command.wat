;; command: a WASI command module, as Go builds without -buildmode=c-shared
;; make one. It exports _start and no _initialize, and its other exports
;; trap until _start has run, which the host never does. The host must
;; say how to build a reactor instead.
(module
  (memory (export "memory") 1)
  (global $started (mut i32) (i32.const 0))
  (func (export "_start") (global.set $started (i32.const 1)))
  (func (export "tokenwire_abi_v1"))
  (func (export "tw_init") (param i32) (result i32)
    (if (i32.eqz (global.get $started)) (then unreachable))
    (i32.const 0))
  (func (export "tw_on_event") (param i32) (result i32)
    (if (i32.eqz (global.get $started)) (then unreachable))
    (i32.const 0))
)
