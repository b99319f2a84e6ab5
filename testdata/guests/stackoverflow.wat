;; stackoverflow: tw_on_event recurses without a base case on every event
;; until the engine's call stack limit traps.
;;
;; The recursive call is not in tail position, because i32.add uses its
;; result, so every call needs a new stack frame.
(module
  (memory (export "memory") 1)

  (func $recurse (param $depth i32) (result i32)
    (i32.add
      (call $recurse (i32.add (local.get $depth) (i32.const 1)))
      (i32.const 1)))

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (call $recurse (i32.const 0)))
)
