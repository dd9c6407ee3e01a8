// A float global's exact bits are part of the execution segment. The JS API gives a
// WebAssembly.Global's value as a JS number, and may turn a NaN into the canonical NaN on the way
// out or in — so a guest whose f32/f64 global holds a NaN with a payload (which `f32.demote_f64`,
// `i32.reinterpret_f32`, copysign … then observe) would resume on another node with different bits.
// Each mutable float global therefore gets two tiny exported functions that move its bits as an
// integer (`i32`/`i64` cross the JS boundary exactly): the runtime reads and writes float globals
// through them when snapshotting and restoring.
//
// Added after metering, so reading a global costs the guest no fuel; they call nothing, so
// Asyncify leaves them alone.

import type { Binaryen, BinaryenModule } from "./binaryen.js";
import { EXPORTS } from "./host-abi.js";
import type { SnapshotGlobal } from "./instrument.js";

/** Export names of a float global's bit accessors (only f32 and f64 globals have them). */
export function floatBitsExports(g: Pick<SnapshotGlobal, "index">): { get: string; set: string } {
  return { get: `${EXPORTS.globalBitsGetPrefix}${g.index}`, set: `${EXPORTS.globalBitsSetPrefix}${g.index}` };
}

/** Add `get` (→ bits) and `set` (bits →) for every f32/f64 global in `globals` (already exported). */
export function addFloatBitsAccessors(b: Binaryen, m: BinaryenModule, globals: readonly SnapshotGlobal[]): void {
  for (const g of globals) {
    if (g.type !== "f32" && g.type !== "f64") continue;
    const internal = b.getExportInfo(m.getExport(g.exportName)).value;
    const wide = g.type === "f64";
    const float = wide ? b.f64 : b.f32;
    const int = wide ? b.i64 : b.i32;
    const names = floatBitsExports(g);
    const getName = `__ferry_gbits_get_${g.index}`;
    const setName = `__ferry_gbits_set_${g.index}`;
    const read = m.global.get(internal, float);
    m.addFunction(getName, b.none, int, [], wide ? m.i64.reinterpret(read) : m.i32.reinterpret(read));
    const bits = m.local.get(0, int);
    m.addFunction(setName, int, b.none, [], m.global.set(internal, wide ? m.f64.reinterpret(bits) : m.f32.reinterpret(bits)));
    m.addFunctionExport(getName, names.get);
    m.addFunctionExport(setName, names.set);
  }
}
