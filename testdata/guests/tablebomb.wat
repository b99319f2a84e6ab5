;; tablebomb: declares a table of 40 million function references, about
;; 320 MB of host memory per instance that linear memory limits do not
;; count. The host must reject it at load time.
(module
  (table 40000000 funcref)
  (memory (export "memory") 1)
  (func (export "tokenwire_abi_v1"))
  (func (export "tw_on_event") (param i32) (result i32)
    (i32.const 0))
)
