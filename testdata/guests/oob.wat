;; oob: calls every host function with pointer and length pairs that do not
;; lie wholly inside guest memory, then emits the statuses to "stdout".
;;
;; Memory is exactly one page (65536 bytes, maximum 1). The four bad regions
;; are, as (pointer, length):
;;   region 0  (0x00020000, 16)          starts past the end of memory
;;   region 1  (0xFFFFFFF0, 0x20)        pointer + length wraps past 2^32 to 0x10
;;   region 2  (0, 0xFFFFFFFF)           length -1 when read as a signed i32
;;   region 3  (0x0000FFF0, 0x20)        starts inside memory and ends 16 bytes past it
;;
;; Report: 32 statuses, each a little-endian i32, 128 bytes in all, emitted
;; to the sink "stdout" in one emit call. The status of host function f
;; with region r is entry 4*f + r, at byte offset 16*f + 4*r, where f is:
;;   0  event_read(ptr, len)
;;   1  config_read(ptr, len)
;;   2  log(1, ptr, len)                  level 1 is info
;;   3  set_error(ptr, len)
;;   4  sign(ptr, len)
;;   5  result_read(ptr, len)
;;   6  emit(ptr, len, data "stdout")    bad sink name, valid data
;;   7  emit(sink "stdout", ptr, len)    valid sink name, bad data
;; The ABI checks memory bounds before anything else, so a correct host
;; returns -1 (INVALID_MEMORY) in all 32 entries.
;;
;; tw_on_event returns 0 after the report is emitted and 1 if that emit fails.
(module
  (import "tokenwire" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "tokenwire" "config_read" (func $config_read (param i32 i32) (result i32)))
  (import "tokenwire" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "tokenwire" "set_error" (func $set_error (param i32 i32) (result i32)))
  (import "tokenwire" "sign" (func $sign (param i32 i32) (result i32)))
  (import "tokenwire" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "tokenwire" "emit" (func $emit (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1 1)

  (data (i32.const 0) "stdout") ;; 6 bytes
  ;; Offset 1024: the report, 128 bytes.

  (func $record (param $entry i32) (param $status i32)
    (i32.store
      (i32.add (i32.const 1024) (i32.shl (local.get $entry) (i32.const 2)))
      (local.get $status)))

  ;; Calls every host function with one bad region and records the statuses
  ;; in entries 4*f + region.
  (func $probe_region (param $region i32) (param $ptr i32) (param $len i32)
    (call $record (i32.add (i32.const 0) (local.get $region))
      (call $event_read (local.get $ptr) (local.get $len)))
    (call $record (i32.add (i32.const 4) (local.get $region))
      (call $config_read (local.get $ptr) (local.get $len)))
    (call $record (i32.add (i32.const 8) (local.get $region))
      (call $log (i32.const 1) (local.get $ptr) (local.get $len)))
    (call $record (i32.add (i32.const 12) (local.get $region))
      (call $set_error (local.get $ptr) (local.get $len)))
    (call $record (i32.add (i32.const 16) (local.get $region))
      (call $sign (local.get $ptr) (local.get $len)))
    (call $record (i32.add (i32.const 20) (local.get $region))
      (call $result_read (local.get $ptr) (local.get $len)))
    (call $record (i32.add (i32.const 24) (local.get $region))
      (call $emit (local.get $ptr) (local.get $len) (i32.const 0) (i32.const 6)))
    (call $record (i32.add (i32.const 28) (local.get $region))
      (call $emit (i32.const 0) (i32.const 6) (local.get $ptr) (local.get $len))))

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (call $probe_region (i32.const 0) (i32.const 0x00020000) (i32.const 16))
    (call $probe_region (i32.const 1) (i32.const 0xFFFFFFF0) (i32.const 0x20))
    (call $probe_region (i32.const 2) (i32.const 0) (i32.const 0xFFFFFFFF))
    (call $probe_region (i32.const 3) (i32.const 0x0000FFF0) (i32.const 0x20))

    (if (i32.lt_s
          (call $emit (i32.const 0) (i32.const 6) (i32.const 1024) (i32.const 128))
          (i32.const 0))
      (then (return (i32.const 1))))
    (i32.const 0))
)
