// A compiled, instrumented guest: the code segment plus V8's compiled module. Compile once,
// instantiate many (wasmtime's Module).

import type { CodeSegment, EntryPoint } from "../code/segment.js";
import { FerryError } from "../errors.js";

export class GuestModule {
  readonly wasm: WebAssembly.Module;
  private readonly byName: Map<string, EntryPoint>;
  private readonly byIndex: Map<number, EntryPoint>;
  /** The import modules the code names ("ferry", "wasi_snapshot_preview1"): only their interfaces are built per instance. */
  readonly importModules: ReadonlySet<string>;

  /** `wasm`: the segment's bytes already compiled (asynchronously, so the caller's thread never waits on V8). */
  constructor(
    readonly segment: CodeSegment,
    wasm?: WebAssembly.Module,
  ) {
    this.wasm = wasm ?? new WebAssembly.Module(segment.bytes as BufferSource);
    this.byName = new Map(segment.entries.map((e) => [e.name, e]));
    this.byIndex = new Map(segment.entries.map((e) => [e.exportIndex, e]));
    this.importModules = new Set(WebAssembly.Module.imports(this.wasm).map((i) => i.module));
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
}
