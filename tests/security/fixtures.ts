// Hostile guests for the security tests: tiny inline WAT, plus hand-encoded binaries for modules too
// large to assemble from text quickly (100,000 imports or exports).
import { wat } from "../helpers/wat.js";

/** Logs "spinning" once, then loops forever. */
export const LOG_THEN_SPIN = wat(`(module
  (import "ferry" "log" (func $log (param i32 i32)))
  (memory 1)
  (data (i32.const 0) "spinning")
  (func (export "spin") (call $log (i32.const 0) (i32.const 8)) (loop $l (br $l))))`);

/** `main` logs "hi" and returns 7; `twice` logs twice and returns 8. */
export const LOG_AND_RETURN = wat(`(module
  (import "ferry" "log" (func $log (param i32 i32)))
  (memory 1)
  (data (i32.const 0) "hi")
  (func (export "main") (result i32) (call $log (i32.const 0) (i32.const 2)) (i32.const 7))
  (func (export "twice") (result i32)
    (call $log (i32.const 0) (i32.const 2)) (call $log (i32.const 0) (i32.const 2)) (i32.const 8)))`);

/** Logs the same 60,000-byte line forever. */
export const LOG_FLOOD_BIG = wat(`(module
  (import "ferry" "log" (func $log (param i32 i32)))
  (memory 1)
  (func (export "flood") (loop $l (call $log (i32.const 0) (i32.const 60000)) (br $l))))`);

/** Logs a one-byte line forever: many tiny lines (each costs 2 bytes of the log budget). */
export const LOG_FLOOD_TINY = wat(`(module
  (import "ferry" "log" (func $log (param i32 i32)))
  (memory 1)
  (data (i32.const 0) "x")
  (func (export "flood") (loop $l (call $log (i32.const 0) (i32.const 1)) (br $l))))`);

/** Writes 64 KiB of output forever. */
export const OUTPUT_BOMB = wat(`(module
  (import "ferry" "output_write" (func $out (param i32 i32)))
  (memory 1)
  (func (export "bomb") (loop $l (call $out (i32.const 0) (i32.const 65536)) (br $l))))`);

/** Hands the host out-of-bounds pointers: each export traps inside a host call. */
export const BAD_POINTERS = wat(`(module
  (import "ferry" "output_write" (func $out (param i32 i32)))
  (import "ferry" "log" (func $log (param i32 i32)))
  (import "ferry" "input_read" (func $in (param i32 i32 i32) (result i32)))
  (memory 1)
  (func (export "output") (call $out (i32.const 65530) (i32.const 100)))
  (func (export "outputWrap") (call $out (i32.const -1) (i32.const 2)))
  (func (export "log") (call $log (i32.const 65535) (i32.const 2)))
  (func (export "input") (result i32) (call $in (i32.const 65535) (i32.const 0) (i32.const 100))))`);

/** Bulk-memory instructions in an endless loop: each fill/copy is one instruction over 16 MiB. */
export const BULK_MEMORY_SPIN = wat(`(module
  (memory 256)
  (func (export "spin")
    (loop $l
      (memory.fill (i32.const 0) (i32.const 7) (i32.const 16777216))
      (memory.copy (i32.const 0) (i32.const 8388608) (i32.const 8388608))
      (br $l))))`);

/** A table exactly at the default limit (100,000 elements); calls into it by index. */
export const TABLE_AT_LIMIT = wat(`(module
  (type $v (func (result i32)))
  (table 100000 funcref)
  (elem (i32.const 99998) $f)
  (func $f (result i32) (i32.const 42))
  (func (export "call") (param $i i32) (result i32) (call_indirect (type $v) (local.get $i))))`);

export const TABLE_PAST_LIMIT = wat(`(module (table 100001 funcref) (func (export "main") (result i32) (i32.const 1)))`);

/** Starts small but declares a maximum far past the limit. */
export const TABLE_MAX_PAST_LIMIT = wat(`(module (table 1 200000 funcref) (func (export "main") (result i32) (i32.const 1)))`);

/** Imports the capability-checked resource interface and tries to open "reports/x" for reading. */
export const RESOURCE_OPENER = wat(`(module
  (import "ferry" "resource_open" (func $open (param i32 i32 i32) (result i32)))
  (memory 1)
  (data (i32.const 0) "reports/x")
  (func (export "main") (result i32) (call $open (i32.const 0) (i32.const 9) (i32.const 1))))`);

/** Imports that are not on the allow-list at all, or are but with the wrong type. */
export const FORBIDDEN_IMPORTS: Array<{ name: string; bytes: Uint8Array }> = [
  {
    name: "WASI fd_write with the wrong type",
    bytes: wat(
      `(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32))) (func (export "main") (result i32) (i32.const 1)))`,
    ),
  },
  {
    name: "an older WASI's module (wasi_unstable)",
    bytes: wat(
      `(module (import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (func (export "main") (result i32) (i32.const 1)))`,
    ),
  },
  {
    name: "an imported memory",
    bytes: wat(`(module (import "env" "memory" (memory 1)) (func (export "main") (result i32) (i32.const 1)))`),
  },
  { name: "an imported global", bytes: wat(`(module (import "env" "g" (global i32)) (func (export "main") (result i32) (i32.const 1)))`) },
  {
    name: "ferry.log with the wrong signature",
    bytes: wat(`(module (import "ferry" "log" (func (param i64))) (func (export "main") (result i32) (i32.const 1)))`),
  },
  {
    name: "an unknown ferry function",
    bytes: wat(`(module (import "ferry" "spawn" (func)) (func (export "main") (result i32) (i32.const 1)))`),
  },
];

/** Recurses n deep, then spins: paused mid-recursion, its snapshot holds a real multi-frame stack. */
export const RECURSE_THEN_SPIN = wat(`(module
  (func $down (export "down") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (loop $l (br $l)) (i32.const 0))
      (else (i32.add (i32.const 1) (call $down (i32.sub (local.get $n) (i32.const 1))))))))`);

/** A trivial guest: `main` → 42. */
export const ANSWER = wat(`(module (func (export "main") (result i32) (i32.const 42)))`);

// ---- hand-encoded binaries ----

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const TYPE_LOG = [0x60, 0x02, 0x7f, 0x7f, 0x00]; // (i32, i32) -> ()
const TYPE_MAIN = [0x60, 0x00, 0x01, 0x7f]; // () -> i32
const BODY_CONST_1 = [0x04, 0x00, 0x41, 0x01, 0x0b]; // size 4: no locals, i32.const 1, end

/** A valid module importing `ferry.log` `count` times (every import on the allow-list), plus `main`. */
export function manyImports(count: number): Uint8Array {
  const imports: number[] = [...uleb(count)];
  const one = [...name("ferry"), ...name("log"), 0x00, 0x00];
  for (let i = 0; i < count; i++) imports.push(...one);
  return new Uint8Array([
    ...HEADER,
    ...section(1, [0x02, ...TYPE_LOG, ...TYPE_MAIN]),
    ...section(2, imports),
    ...section(3, [0x01, 0x01]),
    ...section(7, [0x01, ...name("main"), 0x00, ...uleb(count)]),
    ...section(10, [0x01, ...BODY_CONST_1]),
  ]);
}

/** A valid module with one function exported under `count` different names. */
export function manyExports(count: number): Uint8Array {
  const exports: number[] = [...uleb(count)];
  for (let i = 0; i < count; i++) exports.push(...name(`e${i}`), 0x00, 0x00);
  return new Uint8Array([
    ...HEADER,
    ...section(1, [0x01, ...TYPE_MAIN]),
    ...section(3, [0x01, 0x00]),
    ...section(7, exports),
    ...section(10, [0x01, ...BODY_CONST_1]),
  ]);
}
