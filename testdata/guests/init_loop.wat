;; init_loop: tw_init loops forever. The host stops it at the listener's
;; start deadline and reports that the listener failed to start.
(module
  (memory (export "memory") 1)
  (func (export "tokenwire_abi_v1"))
  (func (export "tw_init") (param i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 0))
  (func (export "tw_on_event") (param i32) (result i32)
    (i32.const 0))
)
