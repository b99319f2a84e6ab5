;; no_marker: a valid listener except that it does not export the ABI
;; version marker tokenwire_abi_v1, so the host must reject it at load time.
(module
  (memory (export "memory") 1)

  (func (export "tw_on_event") (param i32) (result i32)
    (i32.const 0))
)
