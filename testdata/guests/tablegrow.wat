;; tablegrow: declares a table of one element with no maximum, then on every
;; event tries to grow it by 40 million elements (about 320 MB of host
;; memory) and emits the result of table.grow to "stdout" as 4 bytes,
;; little-endian. The host freezes tables at their declared size, so a
;; correct host makes table.grow return -1 (0xFFFFFFFF).
(module
  (import "tokenwire" "emit" (func $emit (param i32 i32 i32 i32) (result i32)))
  (table $t 1 funcref)
  (memory (export "memory") 1)
  (data (i32.const 0) "stdout")

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (i32.store (i32.const 16)
      (table.grow $t (ref.null func) (i32.const 40000000)))
    (drop (call $emit (i32.const 0) (i32.const 6) (i32.const 16) (i32.const 4)))
    (i32.const 0))
)
