// Just enough of a module's structure to add functions to it: where each section is, how many
// types and functions it defines, and what it exports. Independent of runtime/code/wasm-reader.ts
// on purpose (the runner checks the runtime, so it does not read modules through it).

export interface Section {
  id: number;
  /** Where the section's content starts and ends (after the id and size). */
  start: number;
  end: number;
}

export interface ExportEntry {
  kind: number;
  index: number;
}

export interface ModuleLayout {
  sections: Section[];
  /** Entries of the type section, or undefined when it holds more than plain function types (GC rec groups). */
  typeCount: number | undefined;
  /** The function index space: imported functions, then defined ones. */
  functionCount: number;
  exports: Map<string, ExportEntry>;
}

export const SECTION = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
  dataCount: 12,
  tag: 13,
} as const;

class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  byte(): number {
    if (this.pos >= this.end) throw new Error(`unexpected end at byte ${this.pos}`);
    return this.bytes[this.pos++]!;
  }

  leb(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    throw new Error(`LEB128 too long at byte ${this.pos}`);
  }

  u32(): number {
    return Number(this.leb());
  }

  name(): string {
    const length = this.u32();
    const start = this.pos;
    this.pos += length;
    if (this.pos > this.end) throw new Error("name runs past its section");
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(this.bytes.subarray(start, start + length));
  }

  valtype(): void {
    const b = this.byte();
    if (b === 0x63 || b === 0x64) this.leb(); // (ref null? heaptype)
  }

  limits(): void {
    const flags = this.byte();
    this.leb();
    if (flags & 1) this.leb();
    if (flags & 8) this.leb(); // custom page size
  }
}

export function readLayout(bytes: Uint8Array): ModuleLayout {
  const sections: Section[] = [];
  const top = new Reader(bytes, 8, bytes.length);
  while (top.pos < bytes.length) {
    const id = top.byte();
    const size = top.u32();
    const start = top.pos;
    if (start + size > bytes.length) throw new Error(`section ${id} runs past the end`);
    sections.push({ id, start, end: start + size });
    top.pos = start + size;
  }
  const layout: ModuleLayout = { sections, typeCount: 0, functionCount: 0, exports: new Map() };
  for (const s of sections) {
    const r = new Reader(bytes, s.start, s.end);
    if (s.id === SECTION.type) layout.typeCount = readTypes(r);
    else if (s.id === SECTION.import) layout.functionCount += readImports(r);
    else if (s.id === SECTION.function) layout.functionCount += r.u32();
    else if (s.id === SECTION.export) {
      for (let n = r.u32(), i = 0; i < n; i++) {
        const exportName = r.name();
        const kind = r.byte();
        layout.exports.set(exportName, { kind, index: r.u32() });
      }
    }
  }
  return layout;
}

/** The number of types, if every entry is a plain function type. */
function readTypes(r: Reader): number | undefined {
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    if (r.byte() !== 0x60) return undefined;
    for (let k = r.u32(); k > 0; k--) r.valtype();
    for (let k = r.u32(); k > 0; k--) r.valtype();
  }
  return n;
}

/** Imported functions (they come first in the function index space). */
function readImports(r: Reader): number {
  let functions = 0;
  for (let n = r.u32(), i = 0; i < n; i++) {
    r.name();
    r.name();
    const kind = r.byte();
    if (kind === 0) {
      r.u32();
      functions++;
    } else if (kind === 1) {
      r.valtype();
      r.limits();
    } else if (kind === 2) r.limits();
    else if (kind === 3) {
      r.valtype();
      r.byte();
    } else if (kind === 4) {
      r.byte();
      r.u32();
    } else throw new Error(`unknown import kind ${kind}`);
  }
  return functions;
}

/** Where a section with id `id` goes among the others (the binary format's order, not the ids'). */
export function sectionRank(id: number): number {
  const order: number[] = [
    SECTION.type,
    SECTION.import,
    SECTION.function,
    SECTION.table,
    SECTION.memory,
    SECTION.tag,
    SECTION.global,
    SECTION.export,
    SECTION.start,
    SECTION.element,
    SECTION.dataCount,
    SECTION.code,
    SECTION.data,
  ];
  return order.indexOf(id);
}
