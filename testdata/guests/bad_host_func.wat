;; bad_host_func: a valid listener except that it imports
;; tokenwire.launch_missiles, which is not a host function of ABI version 1,
;; so the host must reject it at load time.
(module
  (import "tokenwire" "launch_missiles" (func $launch_missiles (param i32 i32) (result i32)))

  (memory (export "memory") 1)

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (call $launch_missiles (i32.const 0) (i32.const 0)))
)
