;; no_memory: a valid listener except that its memory is not exported as
;; "memory", so the host must reject it at load time.
(module
  (memory 1)

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (i32.const 0))
)
