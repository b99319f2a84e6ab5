;; scan: the Extism counterpart of testdata/guests/scan.wat. "run" copies
;; its input into guest memory eight bytes at a time, counts the bytes that
;; are a double quote, one loop iteration per byte, and outputs the count
;; as 4 little-endian bytes. Rebuild with: wat2wasm scan.wat -o scan.wasm
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1 1)

  (func (export "run") (result i32)
    (local $len i64)
    (local $i i64)
    (local $count i32)
    (local $out i64)
    (local.set $len (call $input_length))
    (if (i64.gt_u (local.get $len) (i64.const 65520)) (then (return (i32.const 1))))
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $len)))
        (i64.store offset=8 (i32.wrap_i64 (local.get $i)) (call $input_load_u64 (local.get $i)))
        (local.set $i (i64.add (local.get $i) (i64.const 8)))
        (br $next)))
    (local.set $i (i64.const 0))
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $len)))
        (local.set $count
          (i32.add (local.get $count)
            (i32.eq (i32.load8_u offset=8 (i32.wrap_i64 (local.get $i))) (i32.const 34))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next)))
    (local.set $out (call $alloc (i64.const 8)))
    (call $store_u64 (local.get $out) (i64.extend_i32_u (local.get $count)))
    (call $output_set (local.get $out) (i64.const 4))
    (i32.const 0))
)
