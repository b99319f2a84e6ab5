;; no_on_event: a valid listener except that it does not export
;; tw_on_event, so the host must reject it at load time.
(module
  (memory (export "memory") 1)

  (func (export "tokenwire_abi_v1"))
)
