;; logflood: on every event, calls log 1,000,000 times and WASI fd_write to
;; stdout (fd 1) 100,000 times, then emits a report of the results to
;; "stdout" and returns 0.
;;
;; Each log call is log(1, "logflood: log line"), level 1 (info), 18 bytes.
;; Each fd_write call writes "logflood: fd_write line\n", 24 bytes, from one
;; iovec. The loops never stop early, so every call after the host's
;; per-event log budget is used up should return -6 (LIMIT_EXCEEDED).
;;
;; Report: 6 little-endian i32 entries, 24 bytes:
;;   0  log calls that returned 0
;;   1  log calls that returned -6 (LIMIT_EXCEEDED)
;;   2  log calls that returned anything else
;;   3  fd_write calls that returned errno 0 (success)
;;   4  fd_write calls that returned a non-zero errno
;;   5  sum of the byte counts that successful fd_write calls reported
;; Entries 0-2 sum to 1,000,000 and entries 3-4 sum to 100,000.
;;
;; tw_on_event returns 0 after the report is emitted and 1 if that emit fails.
(module
  (import "tokenwire" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "tokenwire" "emit" (func $emit (param i32 i32 i32 i32) (result i32)))
  ;; fd_write(fd, iovs_ptr, iovs_len, nwritten_ptr) -> errno
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  (data (i32.const 0) "stdout")                        ;; 6 bytes
  (data (i32.const 16) "logflood: log line")           ;; 18 bytes
  (data (i32.const 64) "logflood: fd_write line\n")    ;; 24 bytes
  ;; Offset 128: one iovec {buf = 64, buf_len = 24}, two little-endian u32.
  (data (i32.const 128) "\40\00\00\00\18\00\00\00")
  ;; Offset 136: nwritten, written by fd_write. Offset 256: the report.

  (func $record (param $entry i32) (param $value i32)
    (i32.store
      (i32.add (i32.const 256) (i32.shl (local.get $entry) (i32.const 2)))
      (local.get $value)))

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (local $i i32)
    (local $status i32)
    (local $log_ok i32)
    (local $log_limited i32)
    (local $log_other i32)
    (local $write_ok i32)
    (local $write_failed i32)
    (local $bytes_written i32)

    (loop $log_again
      (local.set $status (call $log (i32.const 1) (i32.const 16) (i32.const 18)))
      (if (i32.eqz (local.get $status))
        (then (local.set $log_ok (i32.add (local.get $log_ok) (i32.const 1))))
        (else
          (if (i32.eq (local.get $status) (i32.const -6))
            (then (local.set $log_limited (i32.add (local.get $log_limited) (i32.const 1))))
            (else (local.set $log_other (i32.add (local.get $log_other) (i32.const 1)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $log_again (i32.lt_u (local.get $i) (i32.const 1000000))))

    (local.set $i (i32.const 0))
    (loop $write_again
      (if (i32.eqz (call $fd_write (i32.const 1) (i32.const 128) (i32.const 1) (i32.const 136)))
        (then
          (local.set $write_ok (i32.add (local.get $write_ok) (i32.const 1)))
          (local.set $bytes_written
            (i32.add (local.get $bytes_written) (i32.load (i32.const 136)))))
        (else (local.set $write_failed (i32.add (local.get $write_failed) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $write_again (i32.lt_u (local.get $i) (i32.const 100000))))

    (call $record (i32.const 0) (local.get $log_ok))
    (call $record (i32.const 1) (local.get $log_limited))
    (call $record (i32.const 2) (local.get $log_other))
    (call $record (i32.const 3) (local.get $write_ok))
    (call $record (i32.const 4) (local.get $write_failed))
    (call $record (i32.const 5) (local.get $bytes_written))

    (if (i32.lt_s
          (call $emit (i32.const 0) (i32.const 6) (i32.const 256) (i32.const 24))
          (i32.const 0))
      (then (return (i32.const 1))))
    (i32.const 0))
)
