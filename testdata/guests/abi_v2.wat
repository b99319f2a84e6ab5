;; abi_v2: marks itself as built for a later ABI version, tokenwire_abi_v2,
;; and not for v1. The host rejects it at load time and says which ABI the
;; module was built for.
(module
  (memory (export "memory") 1)
  (func (export "tokenwire_abi_v2"))
  (func (export "tw_on_event") (param i32) (result i32)
    (i32.const 0))
)
