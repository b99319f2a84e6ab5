;; minimal: the Extism counterpart of testdata/guests/minimal.wat. "run"
;; copies its input into guest memory eight bytes at a time, as the
;; Extism PDKs do, then copies it into a block the kernel allocates and
;; makes that block the output. Rebuild with: wat2wasm minimal.wat -o minimal.wasm
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
    (local $out i64)
    (local.set $len (call $input_length))
    (if (i64.gt_u (local.get $len) (i64.const 65528)) (then (return (i32.const 1))))
    ;; Input to guest memory, whole words; the tail word may read past the
    ;; input's end into the rest of the kernel block, which is not copied out.
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $len)))
        (i64.store (i32.wrap_i64 (local.get $i)) (call $input_load_u64 (local.get $i)))
        (local.set $i (i64.add (local.get $i) (i64.const 8)))
        (br $next)))
    ;; Guest memory to a kernel block, which becomes the output.
    (local.set $out (call $alloc (local.get $len)))
    (local.set $i (i64.const 0))
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $len)))
        (call $store_u64 (i64.add (local.get $out) (local.get $i)) (i64.load (i32.wrap_i64 (local.get $i))))
        (local.set $i (i64.add (local.get $i) (i64.const 8)))
        (br $next)))
    (call $output_set (local.get $out) (local.get $len))
    (i32.const 0))
)
