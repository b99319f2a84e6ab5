;; import_memory: imports its linear memory from the host instead of
;; defining it. The host rejects it at load time: each listener must define
;; and export its own memory, so the memory cap applies to it.
(module
  (import "tokenwire" "memory" (memory 1))
  (export "memory" (memory 0))
  (func (export "tokenwire_abi_v1"))
  (func (export "tw_on_event") (param i32) (result i32)
    (i32.const 0))
)
