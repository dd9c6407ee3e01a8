// A float or vector global's exact bits are part of the execution segment. The JS API gives a
// WebAssembly.Global's value as a JS number, and may turn a NaN into the canonical NaN on the way
// out or in — so a guest whose f32/f64 global holds a NaN with a payload (which `f32.demote_f64`,
// `i32.reinterpret_f32`, copysign … then observe) would resume on another node with different bits.
// A v128 global's value cannot cross the JS boundary at all (reading it throws a TypeError).
// Each mutable f32/f64/v128 global therefore gets two tiny exported functions that move its bits as
// integers (`i32`/`i64` cross the JS boundary exactly): the runtime reads and writes these globals
// through them when snapshotting and restoring.
//
// - f32/f64: `get() -> i32|i64` and `set(bits: i32|i64)`;
// - v128: `get(half: i32) -> i64` (half 0 the low 64 bits, lanes 0‥7 of i8x16; any other half
//   the high 64 bits) and `set(low: i64, high: i64)`.
//
// Added after metering, so reading a global costs the guest no fuel; they call nothing, so
// Asyncify leaves them alone.

import type { Binaryen, BinaryenModule } from "./binaryen.js";
import { EXPORTS } from "./export-names.js";
import type { SnapshotGlobal } from "./segment.js";

/** Export names of a global's bit accessors (only f32, f64 and v128 globals have them). */
export function floatBitsExports(g: Pick<SnapshotGlobal, "index">): { get: string; set: string } {
  return { get: `${EXPORTS.globalBitsGetPrefix}${g.index}`, set: `${EXPORTS.globalBitsSetPrefix}${g.index}` };
}

/** Whether a global of this type travels through bit accessors. */
export function hasBitsAccessors(type: SnapshotGlobal["type"]): boolean {
  return type === "f32" || type === "f64" || type === "v128";
}

/** Add `get` (→ bits) and `set` (bits →) for every f32/f64/v128 global in `globals` (already exported). */
export function addFloatBitsAccessors(b: Binaryen, m: BinaryenModule, globals: readonly SnapshotGlobal[]): void {
  for (const g of globals) {
    if (!hasBitsAccessors(g.type)) continue;
    const internal = b.getExportInfo(m.getExport(g.exportName)).value;
    const names = floatBitsExports(g);
    const getName = `__ferry_gbits_get_${g.index}`;
    const setName = `__ferry_gbits_set_${g.index}`;
    if (g.type === "v128") {
      // The lane is an immediate (binaryen.js's typings call it an expression).
      const lanes = m.i64x2 as unknown as {
        extract_lane(v: number, lane: number): number;
        replace_lane(v: number, lane: number, x: number): number;
      };
      const read = () => m.global.get(internal, b.v128);
      const half = m.select(m.local.get(0, b.i32), lanes.extract_lane(read(), 1), lanes.extract_lane(read(), 0));
      m.addFunction(getName, b.i32, b.i64, [], half);
      const bits = lanes.replace_lane(m.i64x2.splat(m.local.get(0, b.i64)), 1, m.local.get(1, b.i64));
      m.addFunction(setName, b.createType([b.i64, b.i64]), b.none, [], m.global.set(internal, bits));
    } else {
      const wide = g.type === "f64";
      const float = wide ? b.f64 : b.f32;
      const int = wide ? b.i64 : b.i32;
      const read = m.global.get(internal, float);
      m.addFunction(getName, b.none, int, [], wide ? m.i64.reinterpret(read) : m.i32.reinterpret(read));
      const bits = m.local.get(0, int);
      m.addFunction(setName, int, b.none, [], m.global.set(internal, wide ? m.f64.reinterpret(bits) : m.f32.reinterpret(bits)));
    }
    m.addFunctionExport(getName, names.get);
    m.addFunctionExport(setName, names.set);
  }
}
