;; fillloop: tw_on_event fills 4 MiB of memory with memory.fill in an
;; endless loop. Each fill is one instruction that does a 4 MiB memset, so
;; only a charge for the fill's length lets the budget and the deadline
;; stop the loop.
(module
  (memory (export "memory") 65)

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (loop $forever
      (memory.fill (i32.const 0) (i32.const 7) (i32.const 4194304))
      (br $forever))
    unreachable)
)
