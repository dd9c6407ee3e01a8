// The `spectest` host module every spec harness provides (the reference interpreter's
// spectest.ml): print functions that do nothing here, four constant globals (666 and 666.6),
// a funcref table of 10 (at most 20) elements and a memory of 1 (at most 2) pages. Built as a real
// Wasm module so that its functions and globals have exact types: a module importing
// `print_i32` as (f64) -> () must fail to link, as assert_unlinkable says.

import { MAGIC_AND_VERSION, VALTYPE_BYTES, le, name, section, sleb, vec } from "./wasm-encode.js";

const PRINTS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ["print", []],
  ["print_i32", ["i32"]],
  ["print_i64", ["i64"]],
  ["print_f32", ["f32"]],
  ["print_f64", ["f64"]],
  ["print_i32_f32", ["i32", "f32"]],
  ["print_f64_f64", ["f64", "f64"]],
];

function f32Bits(x: number): bigint {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x, true);
  return BigInt(dv.getUint32(0, true));
}

function f64Bits(x: number): bigint {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x, true);
  return dv.getBigUint64(0, true);
}

export function spectestBytes(): Uint8Array {
  const types = PRINTS.map(([, params]) => [0x60, ...vec(params.map((p) => [VALTYPE_BYTES[p]!])), 0]);
  const globals: Array<[string, number[]]> = [
    ["global_i32", [0x7f, 0, 0x41, ...sleb(666n), 0x0b]],
    ["global_i64", [0x7e, 0, 0x42, ...sleb(666n), 0x0b]],
    ["global_f32", [0x7d, 0, 0x43, ...le(f32Bits(666.6), 4), 0x0b]],
    ["global_f64", [0x7c, 0, 0x44, ...le(f64Bits(666.6), 8), 0x0b]],
  ];
  const exports = [
    ...PRINTS.map(([n], i) => [...name(n), 0, i]),
    [...name("table"), 1, 0],
    [...name("memory"), 2, 0],
    ...globals.map(([n], i) => [...name(n), 3, i]),
  ];
  return new Uint8Array([
    ...MAGIC_AND_VERSION,
    ...section(1, vec(types)),
    ...section(3, vec(PRINTS.map((_, i) => [i]))),
    ...section(4, vec([[0x70, 1, 10, 20]])),
    ...section(5, vec([[1, 1, 2]])),
    ...section(6, vec(globals.map(([, g]) => g))),
    ...section(7, vec(exports)),
    ...section(10, vec(PRINTS.map(() => [2, 0, 0x0b]))),
  ]);
}

let cached: WebAssembly.Module | undefined;

/**
 * A fresh instance's exports (each script gets its own table and memory), plus the threads
 * proposal's `shared_memory` (1 to 2 pages, shared), which a core module cannot also export.
 */
export function spectestExports(): WebAssembly.Exports {
  cached ??= new WebAssembly.Module(spectestBytes() as BufferSource);
  const shared = new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true } as WebAssembly.MemoryDescriptor);
  return { ...new WebAssembly.Instance(cached, {}).exports, shared_memory: shared };
}
