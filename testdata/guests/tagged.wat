;; tagged: emits "tagged-v1 " followed by the event to the sink "stdout",
;; so a test can tell which build of a listener handled an event. Tests make
;; a second build by replacing the bytes "tagged-v1" with "tagged-v2" in
;; the binary, which changes the module's digest and output alone.
;;
;; The tag sits just below offset 65536 and the event is read to 65536, so
;; one emit sends both. Memory grows first when the event does not fit.
;; tw_shutdown logs "tagged shutdown" at level info, so tests see it run.
;;
;; tw_on_event returns 0 on success, 1 when memory.grow fails, 2 when
;; event_read fails and 4 when emit fails.
(module
  (import "tokenwire" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "tokenwire" "emit" (func $emit (param i32 i32 i32 i32) (result i32)))
  (import "tokenwire" "log" (func $log (param i32 i32 i32) (result i32)))

  (memory (export "memory") 2)

  (data (i32.const 0) "stdout")              ;; 6
  (data (i32.const 16) "tagged shutdown")    ;; 15
  (data (i32.const 65526) "tagged-v1 ")      ;; 10

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param $event_len i32) (result i32)
    (local $pages_needed i32)
    (local $total i32)
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
          (then (return (i32.const 1))))))
    (local.set $total (call $event_read (i32.const 65536) (local.get $event_len)))
    (if (i32.lt_s (local.get $total) (i32.const 0))
      (then (return (i32.const 2))))
    (if (i32.lt_s
          (call $emit (i32.const 0) (i32.const 6)
                      (i32.const 65526) (i32.add (local.get $total) (i32.const 10)))
          (i32.const 0))
      (then (return (i32.const 4))))
    (i32.const 0))

  (func (export "tw_shutdown")
    (drop (call $log (i32.const 1) (i32.const 16) (i32.const 15))))
)
