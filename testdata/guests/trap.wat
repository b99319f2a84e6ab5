;; trap: tw_on_event executes unreachable on every event, which traps.
(module
  (memory (export "memory") 1)

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    unreachable)
)
