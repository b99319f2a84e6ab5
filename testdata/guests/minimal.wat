;; minimal: the smallest listener that reads an event and emits it to the
;; sink "stdout", for dispatch benchmarks.
;;
;; Memory is one fixed page. The event is read to offset 8 with a buffer of
;; 65528 bytes, and the first min(total, 65528) bytes are emitted, so a
;; larger event is emitted truncated. echo.wat grows memory instead.
;; tw_on_event returns event_read's status if it is negative and otherwise
;; emit's result, so 0 is success and any failure status fails the event.
(module
  (import "tokenwire" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "tokenwire" "emit" (func $emit (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1 1)
  (data (i32.const 0) "stdout")

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (local $total i32)
    (local.set $total (call $event_read (i32.const 8) (i32.const 65528)))
    (if (i32.lt_s (local.get $total) (i32.const 0))
      (then (return (local.get $total))))
    (call $emit
      (i32.const 0) (i32.const 6)
      (i32.const 8)
      (select
        (local.get $total)
        (i32.const 65528)
        (i32.lt_u (local.get $total) (i32.const 65528)))))
)
