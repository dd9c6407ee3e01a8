// What a module asks of its host and offers to callers — its imports and exports, with the
// signatures of functions — read from the original bytes by the binary reader that validation
// uses (no compile, no Binaryen): GET /modules/:hash/interface and the dashboard's modules page.

import { type ExternKind, type FuncSig, readModuleStructure } from "./wasm-reader.js";

export interface ModuleInterface {
  imports: Array<{ module: string; name: string; kind: ExternKind; params?: string[]; results?: string[] }>;
  exports: Array<{ name: string; kind: ExternKind; params?: string[]; results?: string[] }>;
}

/** Most imports or exports listed: a module's own limits allow more, a page need not show them all. */
export const MAX_INTERFACE_ENTRIES = 10_000;

/** The imports and exports of `bytes`, which must be a module validation accepted (a stored one). */
export function moduleInterface(bytes: Uint8Array): ModuleInterface {
  const s = readModuleStructure(bytes);
  const sig = (t: FuncSig | undefined) => (t ? { params: [...t.params], results: [...t.results] } : {});
  return {
    imports: s.imports
      .slice(0, MAX_INTERFACE_ENTRIES)
      .map((i) => ({ module: i.module, name: i.name, kind: i.kind, ...(i.kind === "func" ? sig(i.sig) : {}) })),
    exports: s.exports.slice(0, MAX_INTERFACE_ENTRIES).map((e) => ({
      name: e.name,
      kind: e.kind,
      ...(e.kind === "func" ? sig(s.types[s.functionTypes[e.index] ?? -1]) : {}),
    })),
  };
}
