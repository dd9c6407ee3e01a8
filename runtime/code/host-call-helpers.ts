// The instrumentation's stand-in for `ferry.output_write`: the one host call whose contract makes it
// move everything it is given (it returns nothing, so it cannot write short). The guest's calls —
// direct, and through tables — go to a helper that hands the bytes over in pieces of at most
// MAX_HOST_IO_BYTES with a fuel check between pieces, so no single crossing holds the host for long
// and the slice can end between pieces (runtime/host/ caps the other calls at the
// same size). Memory bounds are checked for the whole range first, so a bad pointer traps before
// any byte is written, exactly as one call would.

import { MAX_HOST_IO_BYTES } from "../limits.js";
import { FERRY_MODULE, OUTPUT_WRITE_IMPORT } from "../host/index.js";
import { i64Const, type Binaryen, type BinaryenModule } from "./binaryen.js";
import { FUEL_GLOBAL } from "./meter-helpers.js";

export const OUTPUT_WRITE_HELPER = "__ferry_output_write";

/** The internal name of the module's `ferry.output_write` import, if it has one. */
export function outputWriteImport(b: Binaryen, m: BinaryenModule): string | undefined {
  for (let i = 0; i < m.getNumFunctions(); i++) {
    const info = b.getFunctionInfo(m.getFunctionByIndex(i));
    if (info.module === FERRY_MODULE && info.base === OUTPUT_WRITE_IMPORT) return info.name;
  }
  return undefined;
}

/** Add the helper for `importName` and point every table slot that holds the import at it. */
export function addOutputWriteHelper(b: Binaryen, m: BinaryenModule, importName: string, yieldName: string, memoryName: string): void {
  const { i32, i64, none } = b;
  const [PTR, LEN, N] = [0, 1, 2];
  const get = (i: number) => m.local.get(i, i32);
  const piece = m.i32.const(MAX_HOST_IO_BYTES);
  const memoryBytes = m.i64.shl(m.i64.extend_u(m.memory.size(memoryName)), i64Const(m, 16));
  const endsPast = m.i64.gt_u(m.i64.add(m.i64.extend_u(get(PTR)), m.i64.extend_u(get(LEN))), memoryBytes);
  m.addFunction(
    OUTPUT_WRITE_HELPER,
    b.createType([i32, i32]),
    none,
    [i32],
    m.block(null, [
      // Out of bounds: one call with the whole range raises the host's trap, nothing written.
      m.if(endsPast, m.block(null, [m.call(importName, [get(PTR), get(LEN)], none), m.return()])),
      m.loop(
        "pieces",
        m.block(null, [
          m.local.set(N, m.select(m.i32.lt_u(get(LEN), piece), get(LEN), m.i32.const(MAX_HOST_IO_BYTES))),
          m.call(importName, [get(PTR), get(N)], none),
          m.local.set(PTR, m.i32.add(get(PTR), get(N))),
          m.local.set(LEN, m.i32.sub(get(LEN), get(N))),
          m.if(m.i64.lt_s(m.global.get(FUEL_GLOBAL, i64), i64Const(m, 0)), m.call(yieldName, [], none)),
          m.br("pieces", get(LEN)),
        ]),
      ),
    ]),
  );
  redirectTableSlots(b, m, importName, OUTPUT_WRITE_HELPER);
}

/** Rebuild the element segments, in their order, with `from` replaced by `to`. */
function redirectTableSlots(b: Binaryen, m: BinaryenModule, from: string, to: string): void {
  const raw = b as unknown as { _BinaryenElementSegmentIsPassive(ref: number): boolean };
  const segments: Array<{ name: string; table: string; passive: boolean; offset: number; data: string[] }> = [];
  let holds = false;
  for (let i = 0; i < m.getNumElementSegments(); i++) holds ||= b.getElementSegmentInfo(m.getElementSegmentByIndex(i)).data.includes(from);
  if (!holds) return;
  for (let i = 0; i < m.getNumElementSegments(); i++) {
    const ref = m.getElementSegmentByIndex(i);
    const info = b.getElementSegmentInfo(ref);
    const passive = Boolean(raw._BinaryenElementSegmentIsPassive(ref));
    segments.push({ name: info.name, table: info.table, passive, offset: passive ? 0 : m.copyExpression(info.offset), data: info.data });
  }
  for (const s of segments) m.removeElementSegment(s.name);
  for (const s of segments) {
    const data = s.data.map((name) => (name === from ? to : name));
    if (s.passive) m.addPassiveElementSegment(s.name, data);
    else m.addActiveElementSegment(s.table, s.name, data, s.offset);
  }
}
