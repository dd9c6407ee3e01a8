// Small WAT guests shared by the runtime tests.
import { wat } from "./wat.js";

/** Sums 1..n in a loop; keeps the running total in a global, calls a recursive fib at the end. */
export const LOOP_AND_RECURSION = wat(`(module
  (memory 1)
  (global $total (mut i32) (i32.const 0))
  (global $started (mut i32) (i32.const 0))
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "main") (param $n i32) (result i32)
    (local $i i32)
    (global.set $total (global.get $started))
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (global.set $total (i32.add (global.get $total) (local.get $i)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i32.add (global.get $total) (call $fib (i32.const 12))))
  (func (export "fib") (param i32) (result i32) (call $fib (local.get 0)))
  (start $init)
  (func $init (global.set $started (i32.const 1000)))
)`);

export const INFINITE_LOOP = wat(`(module
  (func (export "spin") (loop $l (br $l))))`);

export const INFINITE_LOOP_IN_START = wat(`(module
  (start $s) (func $s (loop $l (br $l)))
  (func (export "main") (result i32) (i32.const 1)))`);

export const DEEP_RECURSION = wat(`(module
  (func $down (export "down") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $down (i32.sub (local.get $n) (i32.const 1))))))))`);

export const MEMORY_BOMB = wat(`(module
  (memory 1)
  (func (export "grow") (result i32)
    (local $pages i32)
    (loop $l
      (if (i32.ne (memory.grow (i32.const 16)) (i32.const -1))
        (then (local.set $pages (i32.add (local.get $pages) (i32.const 16))) (br $l))))
    (local.get $pages))
  (func (export "growOrDie")
    (loop $l
      (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1)) (then (unreachable)))
      (br $l))))`);

export const TRAPS = wat(`(module
  (memory 1)
  (table 2 funcref)
  (func (export "unreachable") (unreachable))
  (func (export "oob") (result i32) (i32.load (i32.const 70000)))
  (func (export "div0") (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
  (func (export "badcall") (param i32) (call_indirect (local.get 0)))
  (func (export "conv") (result i32) (i32.trunc_f64_s (f64.const 1e100))))`);

/** Writes "hello\\n" to output n times and logs once; uses the ferry host imports directly. */
export const IO_GUEST = wat(`(module
  (import "ferry" "output_write" (func $out (param i32 i32)))
  (import "ferry" "log" (func $log (param i32 i32)))
  (import "ferry" "input_size" (func $isize (result i32)))
  (import "ferry" "input_read" (func $iread (param i32 i32 i32) (result i32)))
  (memory 1)
  (data (i32.const 0) "hello\\n")
  (data (i32.const 16) "logged")
  (func (export "hello") (param $n i32) (result i32)
    (local $i i32)
    (call $log (i32.const 16) (i32.const 6))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (call $out (i32.const 0) (i32.const 6))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $n))
  (func (export "echo") (result i32)
    (local $n i32)
    (local.set $n (call $iread (i32.const 1024) (i32.const 0) (i32.const 4096)))
    (call $out (i32.const 1024) (local.get $n))
    (call $isize))
  (func (export "badptr") (call $out (i32.const 65530) (i32.const 100))))`);

/**
 * An explicit-continuation guest without the SDK: counts to n in steps, keeping its position in
 * a global, and returns at a checkpoint when the host asks. Each step writes one byte of output.
 */
export const EXPLICIT_COUNTER = wat(`(module
  (import "ferry" "checkpoint" (func $checkpoint (result i32)))
  (import "ferry" "output_write" (func $out (param i32 i32)))
  (memory 1)
  (global $pos (mut i32) (i32.const 0))
  (func (export "count") (param $n i32) (result i32)
    (local $j i32)
    (block $done (loop $step
      (br_if $done (i32.ge_u (global.get $pos) (local.get $n)))
      ;; some work per step
      (local.set $j (i32.const 0))
      (loop $w (local.set $j (i32.add (local.get $j) (i32.const 1))) (br_if $w (i32.lt_u (local.get $j) (i32.const 50))))
      (i32.store8 (i32.const 100) (i32.add (i32.const 97) (i32.rem_u (global.get $pos) (i32.const 26))))
      (call $out (i32.const 100) (i32.const 1))
      (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
      (if (call $checkpoint) (then (return (i32.const -1))))
      (br $step)))
    (global.get $pos)))`);

/** Counts to n in a loop, then returns n*3: long enough to be caught running, exact to check. */
export const COUNTER = wat(`(module
  (func (export "main") (param $n i32) (result i32)
    (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (i32.mul (local.get $i) (i32.const 3))))`);

/**
 * The resource guest: copy(from, to) opens `from` (name at 0) for reading and `to` (name at 64) for
 * writing, copies up to 1 KiB through memory at 1024 and returns the bytes copied, or -1 when `from`
 * does not exist; plus escape ("../secrets"), bad_handle, wild_pointer and the other attacks below.
 */
export const COPY_GUEST = wat(`(module
  (import "ferry" "resource_open" (func $open (param i32 i32 i32) (result i32)))
  (import "ferry" "resource_read" (func $read (param i32 i32 i32) (result i32)))
  (import "ferry" "resource_write" (func $write (param i32 i32 i32) (result i32)))
  (import "ferry" "resource_close" (func $close (param i32)))
  (memory (export "memory") 64)
  (data (i32.const 0) "config.json")
  (data (i32.const 64) "reports/daily")
  (data (i32.const 128) "../secrets")
  (data (i32.const 192) "big")
  (func (export "copy") (param $fromLen i32) (param $toLen i32) (result i32)
    (local $in i32) (local $out i32) (local $n i32)
    (local.set $in (call $open (i32.const 0) (local.get $fromLen) (i32.const 1)))
    (if (i32.lt_s (local.get $in) (i32.const 0)) (then (return (i32.const -1))))
    (local.set $n (call $read (local.get $in) (i32.const 1024) (i32.const 1024)))
    (call $close (local.get $in))
    (local.set $out (call $open (i32.const 64) (local.get $toLen) (i32.const 2)))
    (drop (call $write (local.get $out) (i32.const 1024) (local.get $n)))
    (call $close (local.get $out))
    (local.get $n))
  (func (export "escape") (result i32)
    (call $open (i32.const 128) (i32.const 10) (i32.const 1)))
  (func (export "bad_handle") (result i32)
    (call $read (i32.const 99) (i32.const 0) (i32.const 4)))
  (func (export "wild_pointer") (result i32)
    (call $open (i32.const 4194300) (i32.const 100) (i32.const 1)))
  (func (export "wild_read") (result i32)
    (local $h i32)
    (local.set $h (call $open (i32.const 0) (i32.const 11) (i32.const 1)))
    (call $read (local.get $h) (i32.const 4194000) (i32.const 1000)))
  (func (export "leak_handles") (result i32)
    (loop $l (drop (call $open (i32.const 0) (i32.const 11) (i32.const 1))) (br $l))
    (i32.const 0))
  ;; big(len): write len bytes (memory from 4096, patterned) to "big", read them back into memory
  ;; at 2 MiB, and return the bytes read plus 1000 * (first byte of the copy's last byte). One call
  ;; moves at most 1 MiB, so both sides loop until done, as the contract asks.
  (func (export "big") (param $len i32) (result i32)
    (local $h i32) (local $i i32) (local $n i32) (local $got i32)
    (loop $fill
      (i32.store8 (i32.add (i32.const 4096) (local.get $i)) (i32.and (local.get $i) (i32.const 255)))
      (local.set $i (i32.add (local.get $i) (i32.const 4093)))
      (br_if $fill (i32.lt_u (local.get $i) (local.get $len))))
    (local.set $h (call $open (i32.const 192) (i32.const 3) (i32.const 2)))
    (local.set $i (i32.const 0))
    (loop $write
      (local.set $got (call $write (local.get $h) (i32.add (i32.const 4096) (local.get $i)) (i32.sub (local.get $len) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (local.get $got)))
      (br_if $write (i32.and (i32.gt_s (local.get $got) (i32.const 0)) (i32.lt_u (local.get $i) (local.get $len)))))
    (call $close (local.get $h))
    (local.set $h (call $open (i32.const 192) (i32.const 3) (i32.const 1)))
    (loop $read
      (local.set $got (call $read (local.get $h) (i32.add (i32.const 2097152) (local.get $n)) (i32.sub (i32.const 2000000) (local.get $n))))
      (local.set $n (i32.add (local.get $n) (local.get $got)))
      (br_if $read (i32.and (i32.gt_s (local.get $got) (i32.const 0)) (i32.lt_u (local.get $n) (i32.const 2000000)))))
    (call $close (local.get $h))
    (i32.add (local.get $n)
      (i32.mul (i32.const 1000) (i32.load8_u (i32.add (i32.const 2097152) (i32.const 8186)))))))`);

// Call-free loops keep their fuel in a local and write it back only where control leaves them:
// every way out is here (falling out, br and br_if to an outer label, br_table, return, an inner
// loop continuing its outer one), plus memory.fill charged inside such a loop.
export const LOOP_EXITS = wat(`(module
  (memory 1)
  (func (export "nested") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $acc i32)
    (block $end
      (loop $outer
        (br_if $end (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $j (i32.const 0))
        (loop $inner
          (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $outer (i32.ge_u (local.get $j) (i32.const 7)))
          (br $inner))))
    (local.get $acc))
  (func (export "switch") (param $n i32) (result i32)
    (local $i i32)
    (block $exit
      (block $other
        (loop $l
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_table $l $exit $other (i32.ge_u (local.get $i) (local.get $n)))))
      (return (i32.const -1)))
    (i32.mul (local.get $i) (i32.const 2)))
  (func (export "returns") (param $n i32) (result i32)
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (if (i32.ge_u (local.get $i) (local.get $n)) (then (return (i32.mul (local.get $i) (i32.const 5)))))
      (br $l))
    (i32.const -1))
  (func (export "falls") (param $n i32) (result i32)
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i32.mul (local.get $i) (i32.const 3)))
  (func (export "fills") (param $n i32) (result i32)
    (local $i i32)
    (block $end (loop $l
      (br_if $end (i32.ge_u (local.get $i) (local.get $n)))
      (memory.fill (i32.const 0) (i32.const 7) (i32.const 4096))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $i)))`);

/** Logs "spinning", then loops forever. */
export const LOG_THEN_SPIN = wat(`(module
  (import "ferry" "log" (func $log (param i32 i32)))
  (memory 1)
  (data (i32.const 0) "spinning")
  (func (export "spin") (call $log (i32.const 0) (i32.const 8)) (loop $l (br $l))))`);
