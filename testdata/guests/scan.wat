;; scan: a loop-heavy listener for benchmarks. It reads the event and
;; counts its bytes that are a double quote, one loop iteration per byte,
;; then emits the count as 4 little-endian bytes to the sink "stdout".
;;
;; Memory is one fixed page; the event is read to offset 8 with a buffer of
;; 65528 bytes and only the part that fits is scanned. tw_on_event returns
;; event_read's status if it is negative and otherwise emit's result.
(module
  (import "tokenwire" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "tokenwire" "emit" (func $emit (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1 1)
  (data (i32.const 0) "stdout")

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (local $total i32)
    (local $end i32)
    (local $i i32)
    (local $count i32)
    (local.set $total (call $event_read (i32.const 8) (i32.const 65528)))
    (if (i32.lt_s (local.get $total) (i32.const 0))
      (then (return (local.get $total))))
    (local.set $end
      (i32.add (i32.const 8)
        (select (local.get $total) (i32.const 65528)
          (i32.lt_u (local.get $total) (i32.const 65528)))))
    (local.set $i (i32.const 8))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $count
          (i32.add (local.get $count)
            (i32.eq (i32.load8_u (local.get $i)) (i32.const 34))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    ;; The event buffer is scanned, so its first 4 bytes can hold the count.
    (i32.store (i32.const 8) (local.get $count))
    (call $emit (i32.const 0) (i32.const 6) (i32.const 8) (i32.const 4)))
)
