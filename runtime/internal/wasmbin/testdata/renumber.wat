;; renumber: every place a function index appears, for the metering
;; rewrite's renumbering test. Rebuild with:
;;   wat2wasm renumber.wat -o renumber.wasm
;; "run" returns a sum that changes if any index points at the wrong
;; function.
(module
  (import "env" "add" (func $add (param i64 i64) (result i64)))
  (type $unary (func (param i64) (result i64)))
  (table $t 4 funcref)
  (global $started (mut i64) (i64.const 0))
  (global $fref funcref (ref.func $triple))
  (elem (table $t) (i32.const 0) func $double $triple)
  (elem $passive funcref (ref.func $inc) (ref.func $double))
  (elem declare func $triple)
  (memory (export "memory") 1)
  (start $init)

  (func $init (global.set $started (i64.const 1000)))
  (func $double (type $unary) (i64.mul (local.get 0) (i64.const 2)))
  (func $triple (type $unary) (i64.mul (local.get 0) (i64.const 3)))
  (func $inc (type $unary) (i64.add (local.get 0) (i64.const 1)))

  (func $loop_sum (param $n i64) (result i64)
    (local $acc i64)
    (loop $again
      (local.set $acc (call $add (local.get $acc) (call $double (local.get $n))))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $again (i64.gt_s (local.get $n) (i64.const 0))))
    (local.get $acc))

  (func (export "run") (result i64)
    (local $sum i64)
    (table.init $t $passive (i32.const 2) (i32.const 0) (i32.const 2))
    (local.set $sum (global.get $started))
    ;; table[0] = double, [1] = triple, [2] = inc, [3] = double
    (local.set $sum (i64.add (local.get $sum) (call_indirect (type $unary) (i64.const 5) (i32.const 0))))
    (local.set $sum (i64.add (local.get $sum) (call_indirect (type $unary) (i64.const 7) (i32.const 1))))
    (local.set $sum (i64.add (local.get $sum) (call_indirect (type $unary) (i64.const 11) (i32.const 2))))
    (local.set $sum (i64.add (local.get $sum) (call_indirect (type $unary) (i64.const 13) (i32.const 3))))
    (table.set $t (i32.const 0) (global.get $fref))
    (local.set $sum (i64.add (local.get $sum) (call_indirect (type $unary) (i64.const 17) (i32.const 0))))
    (table.set $t (i32.const 1) (ref.func $inc))
    (local.set $sum (i64.add (local.get $sum) (call_indirect (type $unary) (i64.const 19) (i32.const 1))))
    (i64.add (local.get $sum) (call $loop_sum (i64.const 10))))
  (export "triple" (func $triple))
)
