// The dashboard tests' long job: ticks(n, spin) writes "tick 1\n" … "tick n\n", spinning `spin`
// loop turns between two lines, and returns n * 7 — long enough to be caught running, exact to check.
import { wat } from "../helpers/wat.js";

export const TICKS = wat(`(module
  (import "ferry" "output_write" (func $out (param i32 i32)))
  (import "ferry" "log" (func $log (param i32 i32)))
  (memory 1)
  (data (i32.const 0) "tick ")
  (data (i32.const 64) "half way")
  (func $line (param $i i32)
    (local $p i32) (local $d i32) (local $len i32)
    ;; digits of $i, backwards from 40, then copied after "tick "
    (local.set $p (i32.const 40))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $i) (i32.const 10))))
      (local.set $i (i32.div_u (local.get $i) (i32.const 10)))
      (br_if $digits (i32.ne (local.get $i) (i32.const 0))))
    (local.set $len (i32.sub (i32.const 40) (local.get $p)))
    (memory.copy (i32.const 5) (local.get $p) (local.get $len))
    (i32.store8 (i32.add (i32.const 5) (local.get $len)) (i32.const 10))
    (call $out (i32.const 0) (i32.add (i32.const 6) (local.get $len))))
  (func (export "ticks") (param $n i32) (param $spin i32) (result i32)
    (local $i i32) (local $j i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (call $line (local.get $i))
      (if (i32.eq (local.get $i) (i32.div_u (local.get $n) (i32.const 2))) (then (call $log (i32.const 64) (i32.const 8))))
      (local.set $j (i32.const 0))
      (loop $w (local.set $j (i32.add (local.get $j) (i32.const 1))) (br_if $w (i32.lt_u (local.get $j) (local.get $spin))))
      (br $l)))
    (i32.mul (local.get $n) (i32.const 7))))`);

export const TICKS_VALUE = 300 * 7;
