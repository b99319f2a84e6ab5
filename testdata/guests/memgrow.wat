;; memgrow: tw_on_event grows memory one page at a time until memory.grow
;; fails, then stores one byte past the end of memory, which traps with an
;; out-of-bounds memory access. It does this on every event.
;;
;; The memory has no declared maximum, so only the host's memory limit
;; stops the growth. Each new page gets one byte written, so the operating
;; system must back it with physical memory. Without a host limit the guest
;; reaches the 65536-page (4 GiB) maximum of 32-bit memory.
(module
  (memory (export "memory") 1)

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (local $old_pages i32)
    (loop $grow
      (local.set $old_pages (memory.grow (i32.const 1)))
      (if (i32.ne (local.get $old_pages) (i32.const -1))
        (then
          ;; The first byte of the new page is at old_pages * 65536.
          (i32.store8 (i32.shl (local.get $old_pages) (i32.const 16)) (i32.const 1))
          (br $grow))))

    ;; memory.grow failed. memory.size * 65536 is one past the last byte.
    ;; At 65536 pages the product wraps to 0 and the store succeeds, so the
    ;; unreachable below traps instead.
    (i32.store8 (i32.shl (memory.size) (i32.const 16)) (i32.const 1))
    unreachable)
)
