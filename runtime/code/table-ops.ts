// Table instructions, before the bytes reach Binaryen (docs/metering.md, "Tables").
//
// binaryen.js has no getters or builders for `table.init`, `table.copy`, `table.fill` and
// `elem.drop`: the instrumentation could neither see their operands (a loop could hide there, and
// the length must be charged) nor build one (to drop a segment again after a restore). So this pass
// rewrites the binary first: each such instruction becomes a call to a helper function appended to
// the module, whose body is the instruction applied to its parameters —
//
//   table.copy $d $s   →  call $copy_d_s     (func (param i32 i32 i32) local.get 0 1 2  table.copy $d $s)
//   table.init $e $t   →  call $init_e_t     (func (param i32 i32 i32) …  table.init $e $t)
//   table.fill $t      →  call $fill_t       (func (param i32 <ref> i32) … table.fill $t)
//   elem.drop $e       →  call $drop_e       (func elem.drop $e)
//
// The operands are on the stack in the order the parameters take them, so evaluation order and
// every trap are exactly the instruction's. In the IR the instructions are then leaves of four-line
// functions the instrumentation knows (the walker may treat them as having no children), and their
// calls are ordinary calls. The pass also reports what the snapshot needs: the tables an instruction
// can change, and every function a table or a funcref can hold.

import { FerryError } from "../errors.js";
import { readFunctionStats } from "./code-reader.js";
import { concatBytes, encodeSection, ulebBytes as u32 } from "./wasm-encode.js";
import { Reader, type ModuleStructure, type ValType } from "./wasm-reader.js";

export type TableHelperKind = "init" | "copy" | "fill" | "drop";

export interface TableHelper {
  kind: TableHelperKind;
  /** The helper's index in the rewritten module's function space (after every original function). */
  function: number;
  /** init and fill: the table; copy: the destination table. */
  table: number;
  /** copy: the source table. */
  source: number;
  /** init and drop: the element segment. */
  segment: number;
}

export interface TablePlan {
  /** The module with its table instructions rewritten (the input itself when it has none). */
  bytes: Uint8Array;
  helpers: TableHelper[];
  /** Tables an instruction can change (table.set, grow, fill, copy, init), ascending. */
  writtenTables: number[];
  /** Tables table.grow can grow (the others keep their initial size). */
  grownTables: Set<number>;
  /** Functions a table or a funcref may hold: in element segments, or named by ref.func. Ascending. */
  referencedFunctions: number[];
  /** Items in each element segment, by segment index. */
  segmentLengths: number[];
}

const TABLE_SET = 0x26;
const REF_FUNC = 0xd2;
const TABLE_INIT = 0xfc00 + 12;
const ELEM_DROP = 0xfc00 + 13;
const TABLE_COPY = 0xfc00 + 14;
const TABLE_GROW = 0xfc00 + 15;
const TABLE_FILL = 0xfc00 + 17;

const TYPE_SECTION = 1;
const FUNCTION_SECTION = 3;
const ELEMENT_SECTION = 9;
const CODE_SECTION = 10;
const GLOBAL_SECTION = 6;

const VALTYPE_BYTE: Partial<Record<ValType, number>> = { funcref: 0x70, externref: 0x6f };

/** One helper per distinct (kind, table, source, segment), numbered after the module's functions from `firstHelper`. */
function helperTable(firstHelper: number) {
  const helpers: TableHelper[] = [];
  const helperByKey = new Map<string, TableHelper>();
  const helperFor = (kind: TableHelperKind, table: number, source: number, segment: number): TableHelper => {
    const key = `${kind}:${table}:${source}:${segment}`;
    let helper = helperByKey.get(key);
    if (!helper) {
      helper = { kind, function: firstHelper + helpers.length, table, source, segment };
      helperByKey.set(key, helper);
      helpers.push(helper);
    }
    return helper;
  };
  return { helpers, helperFor };
}

/** Rewrite the table instructions of a module V8 has validated (`s` is its structure). */
export function planTables(bytes: Uint8Array, s: ModuleStructure): TablePlan {
  const referenced = new Set<number>();
  const written = new Set<number>();
  const grown = new Set<number>();
  const segmentLengths = readElements(bytes, referenced);
  readGlobalRefs(bytes, referenced);

  const { helpers, helperFor } = helperTable(s.functionTypes.length);
  const sites: Array<{ start: number; end: number; helper: TableHelper }> = [];
  readFunctionStats(
    bytes,
    s,
    () => {},
    (op, imm, start, end) => {
      switch (op) {
        case REF_FUNC:
          referenced.add(imm[0]!);
          return;
        case TABLE_GROW:
          grown.add(imm[0]!);
          written.add(imm[0]!);
          return;
        case TABLE_SET:
          written.add(imm[0]!);
          return;
        case TABLE_FILL:
          written.add(imm[0]!);
          sites.push({ start, end, helper: helperFor("fill", imm[0]!, 0, 0) });
          return;
        case TABLE_COPY:
          written.add(imm[0]!);
          sites.push({ start, end, helper: helperFor("copy", imm[0]!, imm[1]!, 0) });
          return;
        case TABLE_INIT:
          written.add(imm[1]!);
          sites.push({ start, end, helper: helperFor("init", imm[1]!, 0, imm[0]!) });
          return;
        case ELEM_DROP:
          sites.push({ start, end, helper: helperFor("drop", 0, 0, imm[0]!) });
          return;
      }
    },
  );
  const plan = {
    helpers,
    writtenTables: [...written].sort((a, b) => a - b),
    grownTables: grown,
    referencedFunctions: [...referenced].sort((a, b) => a - b),
    segmentLengths,
  };
  if (sites.length === 0) return { bytes, ...plan };
  const out = rewrite(bytes, s, sites, helpers);
  if (!WebAssembly.validate(out as BufferSource))
    throw new FerryError("instrumentation_failed", "rewriting the table instructions made an invalid module");
  return { bytes: out, ...plan };
}

/** The element section: every function a segment names (into `referenced`), and each segment's length. */
function readElements(bytes: Uint8Array, referenced: Set<number>): number[] {
  const r = sectionReader(bytes, ELEMENT_SECTION);
  if (!r) return [];
  const lengths: number[] = [];
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const flags = r.u32();
    if (flags === 2 || flags === 6) r.u32(); // table index
    if ((flags & 1) === 0) r.constExpr(); // an active segment's offset
    if ((flags & 3) !== 0) r.byte(); // element kind (0x00) or reference type
    const n = r.u32();
    lengths.push(n);
    for (let k = 0; k < n; k++) {
      if (flags & 4) r.constExpr((f) => referenced.add(f));
      else referenced.add(r.u32());
    }
  }
  return lengths;
}

/** ref.func in global initialisers. */
function readGlobalRefs(bytes: Uint8Array, referenced: Set<number>): void {
  const r = sectionReader(bytes, GLOBAL_SECTION);
  if (!r) return;
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    r.valtype();
    r.byte();
    r.constExpr((f) => referenced.add(f));
  }
}

function sectionReader(bytes: Uint8Array, id: number): Reader | undefined {
  for (const section of sections(bytes)) {
    if (section.id !== id) continue;
    const r = new Reader(bytes, section.end);
    r.pos = section.start;
    return r;
  }
  return undefined;
}

interface Section {
  id: number;
  /** Where the section begins (its id byte). */
  at: number;
  /** Its content. */
  start: number;
  end: number;
}

function sections(bytes: Uint8Array): Section[] {
  const r = new Reader(bytes);
  r.pos = 8;
  const out: Section[] = [];
  while (r.pos < bytes.length) {
    const at = r.pos;
    const id = r.byte();
    const size = r.u32();
    out.push({ id, at, start: r.pos, end: r.pos + size });
    r.pos += size;
  }
  return out;
}

/** The module with each site's instruction replaced by a call to its helper, and the helpers appended. */
function rewrite(
  bytes: Uint8Array,
  s: ModuleStructure,
  sites: Array<{ start: number; end: number; helper: TableHelper }>,
  helpers: TableHelper[],
): Uint8Array {
  sites.sort((a, b) => a.start - b.start);
  // The helpers' types, appended to the type section.
  const types: number[][] = [];
  const typeIndex = new Map<string, number>();
  const typeOf = (h: TableHelper): number => {
    let params: number[];
    if (h.kind === "drop") params = [];
    else if (h.kind === "fill") params = [0x7f, VALTYPE_BYTE[s.tables[h.table]?.type ?? "funcref"] ?? 0x70, 0x7f];
    else params = [0x7f, 0x7f, 0x7f];
    const encoded = [0x60, ...u32(params.length), ...params, 0x00];
    const key = encoded.join(",");
    let index = typeIndex.get(key);
    if (index === undefined) {
      index = s.types.length + types.length;
      typeIndex.set(key, index);
      types.push(encoded);
    }
    return index;
  };
  const helperTypes = helpers.map(typeOf);

  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  let sawType = false;
  for (const section of sections(bytes)) {
    if (section.id === TYPE_SECTION) {
      sawType = true;
      const r = new Reader(bytes, section.end);
      r.pos = section.start;
      const count = r.u32();
      parts.push(
        encodeSection(TYPE_SECTION, [
          u32(count + types.length),
          bytes.subarray(r.pos, section.end),
          ...types.map((t) => Uint8Array.from(t)),
        ]),
      );
    } else if (section.id === FUNCTION_SECTION) {
      const r = new Reader(bytes, section.end);
      r.pos = section.start;
      const count = r.u32();
      parts.push(
        encodeSection(FUNCTION_SECTION, [
          u32(count + helpers.length),
          bytes.subarray(r.pos, section.end),
          Uint8Array.from(helperTypes.flatMap((t) => [...u32(t)])),
        ]),
      );
    } else if (section.id === CODE_SECTION) {
      parts.push(encodeSection(CODE_SECTION, rewriteCode(bytes, section, sites, helpers)));
    } else {
      parts.push(bytes.subarray(section.at, section.end));
    }
  }
  if (!sawType) throw new FerryError("instrumentation_failed", "a module with table instructions has no type section");
  return concatBytes(parts);
}

function rewriteCode(
  bytes: Uint8Array,
  section: Section,
  sites: Array<{ start: number; end: number; helper: TableHelper }>,
  helpers: TableHelper[],
): Uint8Array[] {
  const r = new Reader(bytes, section.end);
  r.pos = section.start;
  const count = r.u32();
  const out: Uint8Array[] = [u32(count + helpers.length)];
  let site = 0;
  for (let i = 0; i < count; i++) {
    const size = r.u32();
    const start = r.pos;
    const end = start + size;
    const body: Uint8Array[] = [];
    let from = start;
    while (site < sites.length && sites[site]!.start < end) {
      const { start: at, end: after, helper } = sites[site++]!;
      body.push(bytes.subarray(from, at), Uint8Array.from([0x10, ...u32(helper.function)]));
      from = after;
    }
    body.push(bytes.subarray(from, end));
    const rewritten = concatBytes(body);
    out.push(u32(rewritten.byteLength), rewritten);
    r.pos = end;
  }
  for (const h of helpers) {
    const get = [0x20, 0x00, 0x20, 0x01, 0x20, 0x02];
    let code: number[];
    if (h.kind === "drop") code = [0xfc, ...u32(13), ...u32(h.segment)];
    else if (h.kind === "init") code = [...get, 0xfc, ...u32(12), ...u32(h.segment), ...u32(h.table)];
    else if (h.kind === "copy") code = [...get, 0xfc, ...u32(14), ...u32(h.table), ...u32(h.source)];
    else code = [...get, 0xfc, ...u32(17), ...u32(h.table)];
    const body = [0x00, ...code, 0x0b]; // no locals, the instruction, end
    out.push(u32(body.length), Uint8Array.from(body));
  }
  return out;
}
