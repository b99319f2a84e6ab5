;; echo: reads each event and emits it unchanged to the sink "stdout".
;;
;; The event is read to offset 65536, the start of page 1, so page 0 keeps
;; the constant strings. When the event does not fit in the current memory,
;; tw_on_event grows memory first, so every event that fits under the
;; host's memory limit is echoed whole.
;;
;; tw_on_event returns 0 on success. On failure it calls set_error and
;; returns one of these codes:
;;   1  memory.grow failed, so the event does not fit
;;   2  event_read returned a negative status
;;   3  event_read returned a total other than event_len
;;   4  emit returned a negative status
(module
  (import "tokenwire" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "tokenwire" "set_error" (func $set_error (param i32 i32) (result i32)))
  (import "tokenwire" "emit" (func $emit (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 2)

  ;; Constant strings: offset, then length in the comment.
  (data (i32.const 0) "stdout")                       ;; 6
  (data (i32.const 16) "event does not fit in memory") ;; 28
  (data (i32.const 48) "event_read failed")            ;; 17
  (data (i32.const 80) "event length mismatch")        ;; 21
  (data (i32.const 112) "emit to stdout failed")       ;; 21

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param $event_len i32) (result i32)
    (local $pages_needed i32)
    (local $total i32)

    ;; Pages needed to hold 65536 + event_len bytes, rounded up. The sum
    ;; is computed in 64 bits so that an event_len near 2^32 cannot wrap.
    (local.set $pages_needed
      (i32.wrap_i64
        (i64.shr_u
          (i64.add (i64.extend_i32_u (local.get $event_len)) (i64.const 131071))
          (i64.const 16))))
    (if (i32.gt_u (local.get $pages_needed) (memory.size))
      (then
        (if (i32.eq
              (memory.grow (i32.sub (local.get $pages_needed) (memory.size)))
              (i32.const -1))
          (then
            (drop (call $set_error (i32.const 16) (i32.const 28)))
            (return (i32.const 1))))))

    (local.set $total (call $event_read (i32.const 65536) (local.get $event_len)))
    (if (i32.lt_s (local.get $total) (i32.const 0))
      (then
        (drop (call $set_error (i32.const 48) (i32.const 17)))
        (return (i32.const 2))))
    (if (i32.ne (local.get $total) (local.get $event_len))
      (then
        (drop (call $set_error (i32.const 80) (i32.const 21)))
        (return (i32.const 3))))

    (if (i32.lt_s
          (call $emit (i32.const 0) (i32.const 6) (i32.const 65536) (local.get $total))
          (i32.const 0))
      (then
        (drop (call $set_error (i32.const 112) (i32.const 21)))
        (return (i32.const 4))))
    (i32.const 0))
)
