// An instance's mutable globals and tables as snapshot values: a float's or a vector's exact bits
// through the accessors the instrumentation exports (code/float-global-bits.ts), references through
// ReferenceValues (ref-values.ts). Both capture and restore go through here.

import { floatBitsExports } from "../code/float-global-bits.js";
import type { CodeSegment, SnapshotGlobal } from "../code/segment.js";
import { ReferenceValues } from "./ref-values.js";
import { floatOfBits, type GlobalValue } from "./snapshot.js";

export class GuestGlobals {
  /** Tables and reference globals to and from snapshots, made when first needed. */
  private refs: ReferenceValues | undefined;

  constructor(
    private readonly exports: Record<string, WebAssembly.ExportValue>,
    private readonly segment: CodeSegment,
  ) {}

  references(): ReferenceValues {
    return (this.refs ??= new ReferenceValues(this.exports, this.segment));
  }

  /** A mutable global's value; a float's or a vector's exact bits through its accessors. */
  read(g: SnapshotGlobal): GlobalValue {
    if (g.type === "funcref" || g.type === "externref") return this.references().readGlobal(g);
    if (g.type === "v128") {
      const get = this.exports[floatBitsExports(g).get] as (half: number) => bigint;
      return { index: g.index, type: g.type, value: BigInt.asUintN(64, get(0)) | (BigInt.asUintN(64, get(1)) << 64n) };
    }
    const value = (this.exports[g.exportName] as WebAssembly.Global).value as number | bigint;
    if (g.type !== "f32" && g.type !== "f64") return { index: g.index, type: g.type, value };
    const get = this.exports[floatBitsExports(g).get] as (() => number | bigint) | undefined;
    if (!get) return { index: g.index, type: g.type, value };
    const raw = get();
    const bits = g.type === "f32" ? Number(raw) >>> 0 : BigInt.asUintN(64, BigInt(raw));
    return { index: g.index, type: g.type, value: floatOfBits(g.type, bits), bits };
  }

  write(g: SnapshotGlobal, v: GlobalValue): void {
    if (g.type === "funcref" || g.type === "externref") {
      this.references().writeGlobal(g, v);
      return;
    }
    if (g.type === "v128") {
      const bits = v.value as bigint;
      (this.exports[floatBitsExports(g).set] as (low: bigint, high: bigint) => void)(
        BigInt.asIntN(64, bits),
        BigInt.asIntN(64, bits >> 64n),
      );
      return;
    }
    const set = this.exports[floatBitsExports(g).set] as ((bits: number | bigint) => void) | undefined;
    if (v.bits !== undefined && set) set(g.type === "f32" ? Number(v.bits) | 0 : BigInt.asIntN(64, BigInt(v.bits)));
    else (this.exports[g.exportName] as WebAssembly.Global).value = v.value;
  }
}
