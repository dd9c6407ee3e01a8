// The reference run: the module as written (plus the runner's thunks) in this process's V8, with
// the spec harness's linking — `spectest` and every module a script has registered. Its traps are
// classified by fuzz/v8-traps.ts, written from V8's messages independently of the runtime.

import { rawTrapCode } from "../fuzz/v8-traps.js";
import type { TrapCode } from "../runtime/index.js";
import type { Outcome } from "./outcome.js";
import { spectestExports } from "./spectest.js";

export class RawHost {
  private readonly registry = new Map<string, WebAssembly.Exports>();

  constructor() {
    this.registry.set("spectest", spectestExports());
  }

  register(as: string, exports: WebAssembly.Exports): void {
    this.registry.set(as, exports);
  }

  /** The imports a module asks for, from the registry (a missing one is left out, so linking fails as it should). */
  imports(module: WebAssembly.Module): WebAssembly.Imports {
    const imports: Record<string, Record<string, WebAssembly.ExportValue>> = {};
    for (const imp of WebAssembly.Module.imports(module)) {
      // An unknown module is an empty one, so that V8 reports a LinkError (not a TypeError) as a harness would.
      const into = (imports[imp.module] ??= {});
      const exports = this.registry.get(imp.module);
      if (exports && imp.name in exports) into[imp.name] = exports[imp.name]!;
    }
    return imports;
  }

  /** Compile and instantiate (which runs the start function); the failure says which step failed. */
  instantiate(bytes: Uint8Array): { instance: WebAssembly.Instance } | { stage: "compile" | "link" | "start"; outcome: Outcome } {
    let module: WebAssembly.Module;
    try {
      module = new WebAssembly.Module(bytes as BufferSource);
    } catch (e) {
      return { stage: "compile", outcome: { kind: "error", code: "compile", message: String(e) } };
    }
    try {
      return { instance: new WebAssembly.Instance(module, this.imports(module)) };
    } catch (e) {
      if (e instanceof WebAssembly.LinkError) return { stage: "link", outcome: { kind: "error", code: "link", message: e.message } };
      return { stage: "start", outcome: thrown(e) };
    }
  }
}

/** Call an export of a raw instance. */
export function callRaw(instance: WebAssembly.Instance, entry: string, args: readonly unknown[]): Outcome {
  const fn = instance.exports[entry];
  if (typeof fn !== "function") return { kind: "error", code: "no_export", message: `no exported function ${JSON.stringify(entry)}` };
  try {
    return { kind: "values", value: (fn as (...a: unknown[]) => unknown)(...args) };
  } catch (e) {
    return thrown(e);
  }
}

/** Traps while instantiating: V8 prefixes them, and words a data segment that does not fit its own way. */
const INSTANTIATION_TRAPS: ReadonlyArray<readonly [string, TrapCode]> = [["data segment is out of bounds", "memory_out_of_bounds"]];

function thrown(e: unknown): Outcome {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof WebAssembly.RuntimeError && message.startsWith("WebAssembly.Instance(): ")) {
    const bare = message.slice("WebAssembly.Instance(): ".length);
    const code = INSTANTIATION_TRAPS.find(([m]) => m === bare)?.[1] ?? rawTrapCode(new WebAssembly.RuntimeError(bare));
    return { kind: "trap", code, message };
  }
  if (e instanceof WebAssembly.RuntimeError || (e instanceof RangeError && /call stack/i.test(message))) {
    return { kind: "trap", code: rawTrapCode(e), message };
  }
  return { kind: "error", code: e instanceof Error ? e.constructor.name : typeof e, message };
}
