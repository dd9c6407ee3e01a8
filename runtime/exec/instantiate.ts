// Making a guest's WebAssembly instance: the host functions its trust class allows — anonymous code
// gets pure-compute imports only, authenticated code also the resource interface, checked against
// its capabilities on every call — wired to the instance's hooks, then V8's instantiation with its
// failure typed.

import { MAX_NAMED_IMPORTS, nameSome } from "../code/validate.js";
import { FerryError } from "../errors.js";
import { type GuestIo, hostImports, importTrust, type Pausing, resourceImports, type SegmentPart } from "../host/index.js";
import type { ResourceProvider } from "../resources/provider.js";
import type { GuestModule } from "./guest-module.js";
import type { InProcessPlacement } from "./placement.js";

/** The capability-checked resource functions an authenticated instance was given. */
export type ResourceFunctions = ReturnType<typeof resourceImports>;

/** Told of every call to an import declared `pauses` (awaited-calls.ts): only these may await. */
export interface PausingGate {
  enter(name: string): void;
  /** `threw`: the call ended with an exception. */
  leave(threw: boolean): void;
}

export function instantiateGuest(
  module: GuestModule,
  placement: InProcessPlacement,
  io: GuestIo,
  pausing: Pausing,
  gate: PausingGate,
): { instance: WebAssembly.Instance; resources: ResourceFunctions | undefined; parts: Map<string, SegmentPart> } {
  let resources: ResourceFunctions | undefined;
  if (placement.trust === "anonymous") refuseResourceImports(module);
  else {
    const grant = { capabilities: placement.capabilities!, provider: placement.resources ?? NO_RESOURCES };
    resources = resourceImports(
      grant,
      () => io.memory(),
      (fuel) => io.charge(fuel),
    );
  }
  const parts = new Map<string, SegmentPart>();
  const imports = hostImports({ io, pausing, resources, wasi: placement.wasi, parts }, module.importModules);
  gatePausingImports(imports, module, gate);
  return { instance: instantiate(module.wasm, imports), resources, parts };
}

/**
 * Each import the descriptors declare `pauses` is wrapped so the gate knows when it runs (derived,
 * never listed). Only those the module names: no other is ever called, and WASI alone has dozens.
 */
function gatePausingImports(imports: WebAssembly.Imports, module: GuestModule, gate: PausingGate): void {
  for (const { module: from, name } of module.pausingImports) {
    const fns = imports[from];
    const fn = fns?.[name];
    if (fns && typeof fn === "function") fns[name] = gated(name, fn as (...a: unknown[]) => unknown, gate);
  }
}

function gated(name: string, fn: (...a: unknown[]) => unknown, gate: PausingGate): (...a: unknown[]) => unknown {
  return (...args: unknown[]): unknown => {
    gate.enter(name);
    let threw = true;
    try {
      const result = fn(...args);
      threw = false;
      return result;
    } finally {
      gate.leave(threw);
    }
  };
}

/** A module importing the resource interface cannot run anonymously. */
function refuseResourceImports(module: GuestModule): void {
  const privileged = WebAssembly.Module.imports(module.wasm).filter((i) => importTrust(i.module, i.name) === "authenticated");
  if (privileged.length === 0) return;
  const names = nameSome(
    privileged.map((i) => `"${i.module}.${i.name}"`),
    MAX_NAMED_IMPORTS,
    "imports",
  );
  throw new FerryError(
    "import_not_allowed",
    `${names} ${privileged.length === 1 ? "is" : "are"} for authenticated code; anonymous code gets pure-compute imports only`,
  );
}

const NO_RESOURCES: ResourceProvider = { open: () => undefined };

/**
 * V8's instantiation: an active data or element segment that does not fit its memory or table makes
 * it trap (the spec's instantiation trap), and such a module can never run — a typed refusal, not
 * V8's RuntimeError escaping the engine.
 */
function instantiate(wasm: WebAssembly.Module, imports: WebAssembly.Imports): WebAssembly.Instance {
  try {
    return new WebAssembly.Instance(wasm, imports);
  } catch (e) {
    if (!(e instanceof WebAssembly.RuntimeError)) throw e;
    throw new FerryError("invalid_wasm", `the module cannot be instantiated: ${e.message.replace(/^WebAssembly\.Instance\(\): /, "")}`);
  }
}
