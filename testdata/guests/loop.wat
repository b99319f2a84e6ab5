;; loop: tw_on_event never returns because it branches back to the start of
;; an empty loop forever, on every event. Only the host's timeout or
;; cancellation can stop it.
(module
  (memory (export "memory") 1)

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (loop $forever
      (br $forever))
    unreachable)
)
