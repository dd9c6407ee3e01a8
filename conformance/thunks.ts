// Thunks: functions the runner adds to a module under test, each calling one export with constant
// arguments (or reading one exported global) and returning the results as integers — f32/f64 as
// their bits, v128 as two i64, a reference as ref.is_null. Through them a value whose bits the JS
// API would change (a NaN payload, a v128, a reference) reaches the host intact, and `get` works
// in Ferry, which runs functions only. Raw V8 and Ferry run the same augmented bytes; the module's
// own exports and index spaces are unchanged (types, functions and exports are appended).

import { SECTION, readLayout, sectionRank, type ModuleLayout } from "./wasm-sections.js";
import { MAGIC_AND_VERSION, VALTYPE_BYTES, le, name, section, sleb, u32 } from "./wasm-encode.js";
import { REFERENCE, valueBits, type SpecValue } from "./values.js";

export interface ThunkRequest {
  kind: "invoke" | "get";
  field: string;
  args: readonly SpecValue[];
  /** The result types (from the command's `expected`). */
  results: readonly string[];
}

export interface Augmented {
  bytes: Uint8Array;
  /** Export name of each request that got a thunk, by request index. */
  exportNames: Map<number, string>;
  /** Why a request got none, by request index. */
  refused: Map<number, string>;
}

const EXPORT_PREFIX = "__conformance_thunk_";

/** The integer types a thunk returns for each result type. */
export function thunkResultTypes(results: readonly string[]): string[] {
  return results.flatMap((t) =>
    t === "f32" ? ["i32"] : t === "f64" ? ["i64"] : t === "v128" ? ["i64", "i64"] : REFERENCE.has(t) ? ["i32"] : [t],
  );
}

/** The instruction that pushes `v`, or why there is none. */
function constInstr(v: SpecValue): number[] | string {
  const value = v.value;
  switch (v.type) {
    case "i32":
      return [0x41, ...sleb(BigInt.asIntN(32, BigInt(value as string)))];
    case "i64":
      return [0x42, ...sleb(BigInt.asIntN(64, BigInt(value as string)))];
    case "f32":
      return [0x43, ...le(BigInt(value as string), 4)];
    case "f64":
      return [0x44, ...le(BigInt(value as string), 8)];
    case "v128":
      return [0xfd, ...u32(12), ...le(valueBits(v), 16)];
    default: {
      const heap = VALTYPE_BYTES[v.type];
      if (!REFERENCE.has(v.type) || heap === undefined) return `an argument of type ${v.type}`;
      if (value !== "null") return `a non-null ${v.type} argument (a host reference)`;
      return [0xd0, heap];
    }
  }
}

/** The thunk's body (locals and code, without its size), or why there is none. */
function thunkBody(request: ThunkRequest, target: number): number[] | string {
  const locals: number[][] = [];
  for (const t of request.results) {
    const b = VALTYPE_BYTES[t];
    if (b === undefined) return `a result of type ${t}`;
    locals.push([1, b]);
  }
  const code: number[] = [];
  for (const arg of request.args) {
    const instr = constInstr(arg);
    if (typeof instr === "string") return instr;
    code.push(...instr);
  }
  code.push(...(request.kind === "invoke" ? [0x10, ...u32(target)] : [0x23, ...u32(target)]));
  for (let i = request.results.length - 1; i >= 0; i--) code.push(0x21, ...u32(i));
  request.results.forEach((t, i) => {
    const get = [0x20, ...u32(i)];
    if (t === "f32") code.push(...get, 0xbc);
    else if (t === "f64") code.push(...get, 0xbd);
    else if (t === "v128") code.push(...get, 0xfd, ...u32(29), 0, ...get, 0xfd, ...u32(29), 1);
    else if (REFERENCE.has(t)) code.push(...get, 0xd1);
    else code.push(...get);
  });
  code.push(0x0b);
  return [...u32(locals.length), ...locals.flat(), ...code];
}

interface Thunk {
  index: number;
  exportName: string;
  type: number[];
  body: number[];
}

/** Add a thunk for each request that can have one; requests that cannot are named with the reason. */
export function addThunks(bytes: Uint8Array, requests: readonly ThunkRequest[]): Augmented {
  const refused = new Map<number, string>();
  let layout: ModuleLayout;
  try {
    layout = readLayout(bytes);
  } catch (e) {
    for (let i = 0; i < requests.length; i++) refused.set(i, `the module cannot be read: ${(e as Error).message}`);
    return { bytes, exportNames: new Map(), refused };
  }
  if (layout.typeCount === undefined) {
    for (let i = 0; i < requests.length; i++) refused.set(i, "the module's type section has more than function types (GC)");
    return { bytes, exportNames: new Map(), refused };
  }
  const thunks: Thunk[] = [];
  let serial = 0;
  const freshName = (): string => {
    let n: string;
    do n = `${EXPORT_PREFIX}${serial++}`;
    while (layout.exports.has(n));
    return n;
  };
  requests.forEach((request, index) => {
    const exported = layout.exports.get(request.field);
    const wanted = request.kind === "invoke" ? 0 : 3;
    if (!exported || exported.kind !== wanted) {
      refused.set(index, `no exported ${request.kind === "invoke" ? "function" : "global"} ${JSON.stringify(request.field)}`);
      return;
    }
    const body = thunkBody(request, exported.index);
    if (typeof body === "string") {
      refused.set(index, `the thunk cannot pass ${body}`);
      return;
    }
    const outs = thunkResultTypes(request.results).map((t) => VALTYPE_BYTES[t]!);
    thunks.push({ index, exportName: freshName(), type: [0x60, 0, ...u32(outs.length), ...outs], body });
  });
  let kept = thunks;
  let out = assemble(bytes, layout, kept);
  if (thunks.length > 0 && !WebAssembly.validate(out as BufferSource)) {
    // One bad thunk (say, a result type wast2json spelled differently) must not cost the others.
    kept = thunks.filter((t) => {
      const alone = assemble(bytes, layout, [t]);
      if (WebAssembly.validate(alone as BufferSource)) return true;
      refused.set(t.index, `the thunk does not validate: ${validationError(alone)}`);
      return false;
    });
    out = assemble(bytes, layout, kept);
  }
  return { bytes: out, exportNames: new Map(kept.map((t) => [t.index, t.exportName])), refused };
}

function validationError(bytes: Uint8Array): string {
  try {
    new WebAssembly.Module(bytes as BufferSource);
    return "accepted on a second look";
  } catch (e) {
    return e instanceof Error ? e.message.replace(/^WebAssembly\.Module\(\): /, "") : String(e);
  }
}

/** The section's entry count and where its entries start. */
function counted(bytes: Uint8Array, start: number): { count: number; rest: number } {
  let count = 0;
  let shift = 0;
  let pos = start;
  for (;;) {
    const b = bytes[pos++]!;
    count += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return { count, rest: pos };
    shift += 7;
  }
}

function assemble(bytes: Uint8Array, layout: ModuleLayout, thunks: readonly Thunk[]): Uint8Array {
  if (thunks.length === 0) return bytes;
  const types: number[][] = [];
  const typeIndex = new Map<string, number>();
  const functionTypes = thunks.map((t) => {
    const key = t.type.join(",");
    let index = typeIndex.get(key);
    if (index === undefined) {
      index = layout.typeCount! + types.length;
      typeIndex.set(key, index);
      types.push(t.type);
    }
    return u32(index);
  });
  const appended = new Map<number, number[][]>([
    [SECTION.type, types],
    [SECTION.function, functionTypes],
    [SECTION.export, thunks.map((t, k) => [...name(t.exportName), 0, ...u32(layout.functionCount + k)])],
    [SECTION.code, thunks.map((t) => [...u32(t.body.length), ...t.body])],
  ]);
  const grown = (id: number): number[] => {
    const extra = appended.get(id)!;
    const existing = layout.sections.find((s) => s.id === id);
    const old = existing ? counted(bytes, existing.start) : { count: 0, rest: 0 };
    const oldEntries = existing ? Array.from(bytes.subarray(old.rest, existing.end)) : [];
    return section(id, [...u32(old.count + extra.length), ...oldEntries, ...extra.flat()]);
  };
  const out: number[] = [...MAGIC_AND_VERSION];
  const put = (part: readonly number[] | Uint8Array): void => {
    for (const b of part) out.push(b);
  };
  const missing = [...appended.keys()]
    .filter((id) => !layout.sections.some((s) => s.id === id))
    .sort((a, b) => sectionRank(a) - sectionRank(b));
  for (const s of layout.sections) {
    if (s.id !== SECTION.custom) while (missing.length > 0 && sectionRank(missing[0]!) < sectionRank(s.id)) put(grown(missing.shift()!));
    if (appended.has(s.id)) put(grown(s.id));
    else put(section(s.id, Array.from(bytes.subarray(s.start, s.end))));
  }
  for (const id of missing) put(grown(id));
  return new Uint8Array(out);
}
