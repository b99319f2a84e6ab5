;; fdwrite_bomb: on every event, makes one WASI fd_write call to stderr with
;; 200 iovecs of 16 MiB each, 3.2 GB in all, of which only the first bytes
;; are newlines. The host examines guest output inside the host call, where
;; the call deadline is not checked, so it must bound the bytes it reads
;; per call and fail the write (EIO) past that bound.
;;
;; Report: the errno fd_write returned, as 4 bytes little-endian, emitted
;; to "stdout". A correct host returns 29 (EIO). tw_on_event returns 0.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "tokenwire" "emit" (func $emit (param i32 i32 i32 i32) (result i32)))
  ;; 257 pages: 16 MiB of data plus one page for the iovecs.
  (memory (export "memory") 257)

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (local $i i32)
    ;; The iovec array starts at 16 MiB: entry i is {ptr 0, len 16 MiB}.
    (loop $fill
      (i32.store
        (i32.add (i32.const 16777216) (i32.shl (local.get $i) (i32.const 3)))
        (i32.const 0))
      (i32.store
        (i32.add (i32.const 16777220) (i32.shl (local.get $i) (i32.const 3)))
        (i32.const 16777216))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 200))))
    (i32.store8 (i32.const 0) (i32.const 10))
    (i32.store (i32.const 16779008)
      (call $fd_write
        (i32.const 2)          ;; stderr
        (i32.const 16777216)   ;; iovecs
        (i32.const 200)        ;; iovec count
        (i32.const 16779000))) ;; where the byte count goes
    ;; The sink name "stdout" at 16779016, then emit the 4-byte errno.
    (i32.store (i32.const 16779016) (i32.const 0x6f647473)) ;; "stdo"
    (i32.store16 (i32.const 16779020) (i32.const 0x7475))   ;; "ut"
    (drop (call $emit (i32.const 16779016) (i32.const 6) (i32.const 16779008) (i32.const 4)))
    (i32.const 0))
)
