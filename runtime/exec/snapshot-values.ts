// The globals and tables sections, both ways: each global a fixed entry (index, type byte, value in
// 8 bytes, 16 for v128; a float's exact bits), each table its element type and function indices,
// null as 0xffffffff (docs/snapshot-format.md).

import type { GlobalType, GlobalValue, TableValue } from "./snapshot.js";
import {
  GLOBAL_ENTRY_BYTES,
  NULL_REF,
  type Reader,
  TABLE_FIXED_BYTES,
  TYPE_CODES,
  TYPES_BY_CODE,
  V128_GLOBAL_ENTRY_BYTES,
  V1_TYPES,
  type Writer,
  malformed,
} from "./snapshot-wire.js";

export function globalEntryBytes(type: GlobalType): number {
  return type === "v128" ? V128_GLOBAL_ENTRY_BYTES : GLOBAL_ENTRY_BYTES;
}

export function writeGlobal(w: Writer, g: GlobalValue): void {
  w.u32(g.index);
  w.u8(TYPE_CODES[g.type]);
  w.u8(0);
  w.u16(0);
  const at = w.pos;
  w.view.setBigUint64(at, 0n, true); // the high half stays zero for 32-bit types
  switch (g.type) {
    case "i32":
      w.view.setInt32(at, g.value as number, true);
      break;
    case "f32":
      if (g.bits !== undefined) w.view.setUint32(at, g.bits as number, true);
      else w.view.setFloat32(at, g.value as number, true);
      break;
    case "i64":
      w.view.setBigInt64(at, g.value as bigint, true);
      break;
    case "f64":
      if (g.bits !== undefined) w.view.setBigUint64(at, g.bits as bigint, true);
      else w.view.setFloat64(at, g.value as number, true);
      break;
    case "funcref":
    case "externref":
      w.view.setUint32(at, (g.value as number | null) ?? NULL_REF, true);
      break;
    case "v128": {
      const v = g.value as bigint;
      w.view.setBigUint64(at, BigInt.asUintN(64, v), true);
      w.view.setBigUint64(at + 8, v >> 64n, true);
      w.pos += 8;
      break;
    }
  }
  w.pos += 8;
}

export function writeTable(w: Writer, t: TableValue): void {
  w.u32(t.index);
  w.u8(TYPE_CODES[t.type]);
  w.u8(0);
  w.u16(0);
  w.u32(t.elements.length);
  for (const e of t.elements) w.u32(e ?? NULL_REF);
}

export function parseGlobals(r: Reader, version: number): GlobalValue[] {
  const count = r.u32("global count");
  // Every entry takes at least 16 bytes: a count the payload cannot hold fails before the loop.
  r.need(count * GLOBAL_ENTRY_BYTES, `${count} globals`);
  const globals: GlobalValue[] = [];
  let previous = -1;
  for (let i = 0; i < count; i++) {
    r.need(GLOBAL_ENTRY_BYTES, `global ${i}`);
    const at = r.pos;
    const index = r.dv.getUint32(at, true);
    const code = r.dv.getUint8(at + 4);
    const type = TYPES_BY_CODE.get(code);
    if (index <= previous) throw malformed(`global ${i}: index ${index} is not above the previous index ${previous}`);
    previous = index;
    if (type === undefined || (version < 2 && !V1_TYPES.has(type)))
      throw malformed(`global ${i}: unknown type code 0x${code.toString(16)} in a version ${version} snapshot`);
    if (r.dv.getUint8(at + 5) !== 0 || r.dv.getUint16(at + 6, true) !== 0) throw malformed(`global ${i}: reserved bytes are not zero`);
    r.need(globalEntryBytes(type), `global ${i}`);
    const v = at + 8;
    if (type === "i64") globals.push({ index, type, value: r.dv.getBigInt64(v, true) });
    else if (type === "f64") globals.push({ index, type, value: r.dv.getFloat64(v, true), bits: r.dv.getBigUint64(v, true) });
    else if (type === "v128") globals.push({ index, type, value: r.dv.getBigUint64(v, true) | (r.dv.getBigUint64(v + 8, true) << 64n) });
    else {
      if (r.dv.getUint32(v + 4, true) !== 0) throw malformed(`global ${i}: high 32 bits of the ${type} value are not zero`);
      const low = r.dv.getUint32(v, true);
      if (type === "i32") globals.push({ index, type, value: r.dv.getInt32(v, true) });
      else if (type === "f32") globals.push({ index, type, value: r.dv.getFloat32(v, true), bits: low });
      else if (type === "funcref") globals.push({ index, type, value: low === NULL_REF ? null : low });
      else if (low !== NULL_REF) throw malformed(`global ${i}: an externref global can only be null (0xffffffff)`);
      else globals.push({ index, type, value: null });
    }
    r.pos += globalEntryBytes(type);
  }
  return globals;
}

export function parseTables(r: Reader): TableValue[] {
  const count = r.u32("table count");
  const tables: TableValue[] = [];
  let previous = -1;
  for (let i = 0; i < count; i++) {
    r.need(TABLE_FIXED_BYTES, `table ${i}`);
    const index = r.dv.getUint32(r.pos, true);
    const code = r.dv.getUint8(r.pos + 4);
    const reserved = r.dv.getUint8(r.pos + 5) | r.dv.getUint16(r.pos + 6, true);
    const size = r.dv.getUint32(r.pos + 8, true);
    r.pos += TABLE_FIXED_BYTES;
    if (index <= previous) throw malformed(`table ${i}: index ${index} is not above the previous index ${previous}`);
    previous = index;
    const type = TYPES_BY_CODE.get(code);
    if (type !== "funcref" && type !== "externref")
      throw malformed(`table ${i}: element type code 0x${code.toString(16)} is not funcref (0x70) or externref (0x6f)`);
    if (reserved !== 0) throw malformed(`table ${i}: reserved bytes are not zero`);
    r.need(4 * size, `table ${i}'s ${size} elements`);
    const elements: Array<number | null> = new Array(size);
    for (let k = 0; k < size; k++) {
      const e = r.dv.getUint32(r.pos + 4 * k, true);
      if (e !== NULL_REF && type === "externref") throw malformed(`table ${i}: element ${k} of an externref table is not null`);
      elements[k] = e === NULL_REF ? null : e;
    }
    r.pos += 4 * size;
    tables.push({ index, type, elements });
  }
  return tables;
}
