// A compiled, instrumented guest: the code segment plus V8's compiled module. Compile once,
// instantiate many (wasmtime's Module).

import type { CodeSegment, EntryPoint } from "../code/segment.js";
import { readModuleStructure } from "../code/wasm-reader.js";
import { FerryError } from "../errors.js";
import { WASM_PAGE_BYTES } from "../limits.js";
import { importPauses } from "../host/index.js";

export class GuestModule {
  readonly wasm: WebAssembly.Module;
  private readonly byName: Map<string, EntryPoint>;
  private readonly byIndex: Map<number, EntryPoint>;
  /** The import modules the code names ("ferry", "wasi_snapshot_preview1"): only their interfaces are built per instance. */
  readonly importModules: ReadonlySet<string>;
  /** The imports it names that are declared `pauses` (instantiate.ts gates them): found once, not per instance. */
  readonly pausingImports: ReadonlyArray<{ module: string; name: string }>;

  /** `wasm`: the segment's bytes already compiled (asynchronously, so the caller's thread never waits on V8). */
  constructor(
    readonly segment: CodeSegment,
    wasm?: WebAssembly.Module,
  ) {
    this.wasm = wasm ?? new WebAssembly.Module(segment.bytes as BufferSource);
    this.byName = new Map(segment.entries.map((e) => [e.name, e]));
    this.byIndex = new Map(segment.entries.map((e) => [e.exportIndex, e]));
    const imports = WebAssembly.Module.imports(this.wasm);
    this.importModules = new Set(imports.map((i) => i.module));
    this.pausingImports = imports
      .filter((i) => i.kind === "function" && importPauses(i.module, i.name))
      .map(({ module, name }) => ({ module, name }));
  }

  get codeHash(): string {
    return this.segment.codeHash;
  }

  /** Exported functions a run may start at. */
  get entries(): readonly EntryPoint[] {
    return this.segment.entries;
  }

  entry(name: string): EntryPoint {
    const e = this.byName.get(name);
    if (!e) {
      const known = this.segment.entries.map((x) => x.name).join(", ") || "none";
      throw new FerryError("entry_not_found", `"${name}" (exported functions: ${known})`);
    }
    return e;
  }

  entryByIndex(exportIndex: number): EntryPoint | undefined {
    return this.byIndex.get(exportIndex);
  }

  private fresh: { pages: readonly number[] | undefined } | undefined;

  /**
   * The guest pages a fresh instance of this code may hold non-zero bytes in — those its active data
   * segments write — or undefined when that cannot be known from the bytes (a start function runs
   * at instantiation; a segment's offset is computed). A restore clears only these (apply-snapshot.ts).
   */
  freshPages(): readonly number[] | undefined {
    this.fresh ??= { pages: dataPages(this.segment) };
    return this.fresh.pages;
  }
}

function dataPages(segment: CodeSegment): readonly number[] | undefined {
  const s = readModuleStructure(segment.bytes);
  if (s.startFunction !== undefined) return undefined;
  const shift = segment.reservedPages * WASM_PAGE_BYTES;
  const pages = new Set<number>();
  for (const { offset, length } of s.activeData) {
    if (offset === undefined) return undefined;
    if (length === 0) continue;
    const first = Math.max(0, Math.floor((offset - shift) / WASM_PAGE_BYTES));
    const last = Math.floor((offset + length - 1 - shift) / WASM_PAGE_BYTES);
    for (let p = first; p <= last; p++) pages.add(p);
  }
  return [...pages].sort((a, b) => a - b);
}
