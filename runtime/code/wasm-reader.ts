// A minimal WebAssembly binary reader: just enough structure (imports, counts, limits, globals)
// to enforce limits and the import allow-list *before* the bytes reach Binaryen, whose failures
// abort its own instance.

import { FerryError } from "../errors.js";

export type ValType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref" | "other";
export type ExternKind = "func" | "table" | "memory" | "global" | "tag";

export interface FuncSig {
  params: ValType[];
  results: ValType[];
}

export interface ImportEntry {
  module: string;
  name: string;
  kind: ExternKind;
  /** For function imports, the signature. */
  sig?: FuncSig;
}

export interface ExportEntry {
  name: string;
  kind: ExternKind;
  index: number;
}

export interface GlobalEntry {
  type: ValType;
  mutable: boolean;
  imported: boolean;
}

export interface Limits {
  min: number;
  max: number | undefined;
  shared: boolean;
  is64: boolean;
}

/** A table's limits and element type (funcref or externref). */
export interface TableType extends Limits {
  type: ValType;
}

export interface ModuleStructure {
  types: FuncSig[];
  imports: ImportEntry[];
  /** Type index of every function, imported ones first (the function index space). */
  functionTypes: number[];
  tables: TableType[];
  memories: Limits[];
  globals: GlobalEntry[];
  exports: ExportEntry[];
  startFunction: number | undefined;
  elementSegments: number;
  dataSegments: number;
  dataBytes: number;
  /** Active data segments: where each writes (a constant i32 offset; undefined when an expression computes it) and how much. */
  activeData: Array<{ offset: number | undefined; length: number }>;
  /** Sections by id that appeared, for feature checks (e.g. 13 = tag section). */
  sectionIds: number[];
  /** Where the code section's content is (function bodies), if there is one. */
  code: { start: number; end: number } | undefined;
}

const VALTYPES: Record<number, ValType> = {
  127: "i32",
  126: "i64",
  125: "f32",
  124: "f64",
  123: "v128",
  112: "funcref",
  111: "externref",
};

export class Reader {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    public end: number = bytes.length,
  ) {}

  fail(what: string): never {
    throw new FerryError("invalid_wasm", `${what} at byte ${this.pos}`);
  }
  byte(): number {
    if (this.pos >= this.end) this.fail("unexpected end of section");
    return this.bytes[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
    return this.fail("LEB128 integer too long");
  }
  /** A data segment's offset expression: its value when it is one `i32.const` (as the unsigned address), else undefined (read past). */
  dataOffset(): number | undefined {
    const at = this.pos;
    if (this.byte() === 0x41) {
      const value = this.s32();
      if (this.byte() === 0x0b) return value >>> 0;
    }
    this.pos = at;
    this.constExpr();
    return undefined;
  }
  /** A signed LEB128 32-bit integer. */
  s32(): number {
    let result = 0;
    let shift = 0;
    let byte: number;
    do {
      if (shift > 28) this.fail("signed LEB128 integer too long");
      byte = this.byte();
      result |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    return shift < 32 && byte & 0x40 ? result | (-1 << shift) : result;
  }
  skipLeb(): void {
    for (let i = 0; i < 10; i++) if ((this.byte() & 0x80) === 0) return;
    this.fail("LEB128 integer too long");
  }
  skip(n: number): void {
    if (this.pos + n > this.end) this.fail("unexpected end of section");
    this.pos += n;
  }
  name(): string {
    const len = this.u32();
    const start = this.pos;
    this.skip(len);
    // ignoreBOM: an export named U+FEFF is not the export named "".
    return new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }).decode(this.bytes.subarray(start, start + len));
  }
  valtype(): ValType {
    const b = this.byte();
    return VALTYPES[b] ?? "other";
  }
  limits(): Limits {
    const flags = this.byte();
    const min = this.u32();
    const max = flags & 1 ? this.u32() : undefined;
    return { min, max, shared: (flags & 2) !== 0, is64: (flags & 4) !== 0 };
  }
  /** Skip a constant expression (global initialisers, segment offsets) up to its `end`; `onRefFunc` sees each `ref.func`. */
  constExpr(onRefFunc?: (index: number) => void): void {
    for (;;) {
      const op = this.byte();
      switch (op) {
        case 0x0b:
          return;
        case 0x41:
        case 0x42:
        case 0x23:
          this.skipLeb();
          break;
        case 0xd2:
          if (onRefFunc) onRefFunc(this.u32());
          else this.skipLeb();
          break;
        case 0x43:
          this.skip(4);
          break;
        case 0x44:
          this.skip(8);
          break;
        case 0xd0:
          this.byte();
          break;
        case 0x6a: // i32.add/sub/mul, i64.add/sub/mul (extended-const)
        case 0x6b:
        case 0x6c:
        case 0x7c:
        case 0x7d:
        case 0x7e:
          break;
        case 0xfd: // v128.const
          this.skipLeb();
          this.skip(16);
          break;
        default:
          this.fail(`unsupported constant expression opcode 0x${op.toString(16)}`);
      }
    }
  }
}

const KINDS: ExternKind[] = ["func", "table", "memory", "global", "tag"];

/**
 * Parse the module-level structure. Assumes WebAssembly.validate already accepted the bytes, so
 * this only needs to be robust (typed errors, no hangs), not a full validator.
 */
export function readModuleStructure(bytes: Uint8Array): ModuleStructure {
  const r = new Reader(bytes);
  if (bytes.length < 8) throw new FerryError("not_wasm", "shorter than the 8-byte header");
  const magic = bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
  if (!magic) throw new FerryError("not_wasm", "missing \\0asm magic");
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    throw new FerryError("not_wasm", "not a version 1 core module");
  }
  r.pos = 8;
  const s: ModuleStructure = {
    types: [],
    imports: [],
    functionTypes: [],
    tables: [],
    memories: [],
    globals: [],
    exports: [],
    startFunction: undefined,
    elementSegments: 0,
    dataSegments: 0,
    activeData: [],
    dataBytes: 0,
    sectionIds: [],
    code: undefined,
  };
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (end > bytes.length) r.fail(`section ${id} runs past the end`);
    s.sectionIds.push(id);
    if (id === 10) s.code = { start: r.pos, end };
    const sr = new Reader(bytes, end);
    sr.pos = r.pos;
    readSection(id, sr, s);
    r.pos = end;
  }
  return s;
}

function readTypes(r: Reader, s: ModuleStructure): void {
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const form = r.byte();
    if (form !== 0x60) {
      // GC proposal rec/sub types: not supported by the instrumenter.
      throw new FerryError("unsupported_feature", `type section form 0x${form.toString(16)} (GC types)`);
    }
    const params = Array.from({ length: r.u32() }, () => r.valtype());
    const results = Array.from({ length: r.u32() }, () => r.valtype());
    s.types.push({ params, results });
  }
}

function readImports(r: Reader, s: ModuleStructure): void {
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const module = r.name();
    const name = r.name();
    const kindByte = r.byte();
    const kind = KINDS[kindByte] ?? r.fail(`unknown import kind ${kindByte}`);
    const entry: ImportEntry = { module, name, kind };
    if (kind === "func") {
      const typeIndex = r.u32();
      entry.sig = s.types[typeIndex];
      s.functionTypes.push(typeIndex);
    } else if (kind === "table") {
      const type = r.valtype();
      s.tables.push({ ...r.limits(), type });
    } else if (kind === "memory") {
      s.memories.push(r.limits());
    } else if (kind === "global") {
      const type = r.valtype();
      s.globals.push({ type, mutable: r.byte() === 1, imported: true });
    } else {
      r.byte();
      r.u32();
    }
    s.imports.push(entry);
  }
}

function readSection(id: number, r: Reader, s: ModuleStructure): void {
  switch (id) {
    case 1:
      readTypes(r, s);
      return;
    case 2:
      readImports(r, s);
      return;
    case 3: {
      const n = r.u32();
      for (let i = 0; i < n; i++) s.functionTypes.push(r.u32());
      return;
    }
    case 4: {
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const type = r.valtype();
        s.tables.push({ ...r.limits(), type });
      }
      return;
    }
    case 5: {
      const n = r.u32();
      for (let i = 0; i < n; i++) s.memories.push(r.limits());
      return;
    }
    case 6: {
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const type = r.valtype();
        const mutable = r.byte() === 1;
        r.constExpr();
        s.globals.push({ type, mutable, imported: false });
      }
      return;
    }
    case 7: {
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const name = r.name();
        const kindByte = r.byte();
        const kind = KINDS[kindByte] ?? r.fail(`unknown export kind ${kindByte}`);
        s.exports.push({ name, kind, index: r.u32() });
      }
      return;
    }
    case 8:
      s.startFunction = r.u32();
      return;
    case 9:
      s.elementSegments = r.u32();
      return;
    case 11: {
      const n = r.u32();
      s.dataSegments = n;
      for (let i = 0; i < n; i++) {
        const flags = r.u32();
        if (flags === 2) r.u32();
        const offset = flags === 0 || flags === 2 ? r.dataOffset() : undefined;
        const len = r.u32();
        r.skip(len);
        s.dataBytes += len;
        if (flags !== 1) s.activeData.push({ offset, length: len });
      }
      return;
    }
    default:
      return; // code, custom, data count, tags: not needed for module-level checks
  }
}
