// The registry of host interfaces: every import module a guest may use, one descriptor each. Adding
// an interface (WASI next, issue 12) is adding its folder and one line to HOST_INTERFACES.
// Everything else is derived from the list: the validator's allow-list (code/validate.ts), the
// Asyncify import list (code/instrument.ts), which imports need authenticated code, the guest's
// import object (exec/), and the op numbers of calls that cross from an isolated child.

import { assemblyScriptEnv } from "./assemblyscript/env.js";
import { ferryCore } from "./ferry/core.js";
import { ferryResources } from "./ferry-resources/index.js";
import type { HostContext, HostInterface, ImportTrust, RemoteCall, Signature } from "./interface.js";
import { wasi } from "./wasi/index.js";

export const HOST_INTERFACES: readonly HostInterface[] = checked([ferryCore, ferryResources, assemblyScriptEnv, wasi]);

/** Two interfaces may share a module (`ferry`), never a function of it: one would shadow the other in the import object. */
function checked(interfaces: HostInterface[]): HostInterface[] {
  const seen = new Set<string>();
  for (const i of interfaces)
    for (const name of Object.keys(i.functions)) {
      const key = `${i.module}.${name}`;
      if (seen.has(key)) throw new Error(`host interface ${i.id} declares ${key} again`);
      seen.add(key);
    }
  return interfaces;
}

/** The descriptor that provides `module.name`, if any (own properties only: "constructor" is no import). */
function providerOf(module: string, name: string): HostInterface | undefined {
  return HOST_INTERFACES.find((i) => i.module === module && Object.hasOwn(i.functions, name));
}

/**
 * module → name → signature of every function a guest may import (the internal ones are not).
 * Null-prototype objects: a guest names its imports, and "ferry"."constructor" or
 * "toString"."valueOf" must find nothing, not Object.prototype's members. Look names up with
 * `allowedImport`, which checks own properties too.
 */
export const ALLOWED_IMPORTS: Readonly<Record<string, Readonly<Record<string, Signature>>>> = (() => {
  const out: Record<string, Record<string, Signature>> = Object.create(null);
  for (const i of HOST_INTERFACES) {
    const names = (out[i.module] ??= Object.create(null) as Record<string, Signature>);
    for (const [name, f] of Object.entries(i.functions)) if (!f.internal) names[name] = f.sig;
  }
  return out;
})();

/** The signature of `module.name` if a guest may import it; undefined for anything else, whatever its name. */
export function allowedImport(module: string, name: string): Signature | undefined {
  const names = Object.hasOwn(ALLOWED_IMPORTS, module) ? ALLOWED_IMPORTS[module] : undefined;
  return names && Object.hasOwn(names, name) ? names[name] : undefined;
}

/** The `module.base` list Asyncify treats as able to unwind: the functions that pause. */
export const ASYNCIFY_IMPORTS = HOST_INTERFACES.flatMap((i) =>
  Object.entries(i.functions)
    .filter(([, f]) => f.pauses)
    .map(([name]) => `${i.module}.${name}`),
).join(",");

const PAUSING_IMPORTS = new Set(ASYNCIFY_IMPORTS.split(","));

/** Whether `module.name` is declared `pauses` (may unwind: yield, sleep, await). */
export function importPauses(module: string, name: string): boolean {
  return PAUSING_IMPORTS.has(`${module}.${name}`);
}

/** The least trust that may import `module.name`, or undefined when no interface provides it. */
export function importTrust(module: string, name: string): ImportTrust | undefined {
  return providerOf(module, name)?.trust;
}

/** The first import of `module` only authenticated code may use ("ferry.resource_open"), or undefined. */
export function importedResourceCall(module: WebAssembly.Module): string | undefined {
  const found = WebAssembly.Module.imports(module).find((i) => importTrust(i.module, i.name) === "authenticated");
  return found ? `${found.module}.${found.name}` : undefined;
}

/**
 * The import object for one instance: the implementation of every interface whose module the code
 * imports from (`imported`; all when not given), grouped by module. An authenticated-only interface
 * is left out when the instance has no resource session (anonymous code, refused earlier if it
 * imports one). An interface with state registers it in `context.parts` as it is built.
 */
export function hostImports(context: HostContext, imported?: ReadonlySet<string>): WebAssembly.Imports {
  // Null prototypes: V8 looks a module's imports up by name, and a name like "constructor" must not
  // reach Object.prototype (validation refuses such imports first; this is the second wall).
  const imports: Record<string, Record<string, unknown>> = Object.create(null);
  for (const i of HOST_INTERFACES) {
    if (i.trust === "authenticated" && !context.resources) continue;
    if (imported && !imported.has(i.module)) continue;
    Object.assign((imports[i.module] ??= Object.create(null) as Record<string, unknown>), i.implement(context));
  }
  return imports as WebAssembly.Imports;
}

/** Every call that crosses from an isolated child, in registry order: op k is REMOTE_CALLS[k - 1]. */
export const REMOTE_CALLS: ReadonlyArray<{ call: RemoteCall; owner: HostInterface }> = HOST_INTERFACES.flatMap((owner) =>
  (owner.remote?.calls ?? []).map((call) => ({ call: call as RemoteCall, owner })),
);

const OPS = new Map<RemoteCall, number>(REMOTE_CALLS.map(({ call }, k) => [call, k + 1]));

/** The op number a remote call travels under. */
export function opOf<R>(call: RemoteCall<R>): number {
  const op = OPS.get(call as RemoteCall);
  if (op === undefined) throw new Error(`remote call ${call.name} is in no registered host interface`);
  return op;
}

export { HOST_CALL_MAX_IO_BYTES } from "./interface.js";
export type {
  GuestIo,
  HostContext,
  HostInterface,
  ParentGrant,
  Pausing,
  RemoteAsk,
  RemoteAskAsync,
  RemoteCall,
  RemoteServer,
  SegmentPart,
  Signature,
  WasiConfig,
  WasiPreopen,
} from "./interface.js";
export { AwaitTimeout, UNWOUND } from "./interface.js";
export { WASI_MODULE, MAX_WASI_FDS, RemoteDirectory, RemoteFsChannel, AsyncRemoteDirectory } from "./wasi/index.js";
export {
  CHECKPOINT_IMPORT,
  CLOCK_IMPORT,
  FERRY_MODULE,
  MAX_LOG_LINE_BYTES,
  OUTPUT_WRITE_IMPORT,
  YIELD_IMPORT,
} from "./ferry/core.js";
export { HOST_CALL_FUEL, HOST_BYTES_PER_FUEL_LOG2, hostCallFuel } from "./guest-call.js";
export { discardOpenResources, resourceImports, type ResourceGrant } from "./ferry-resources/session.js";
export { remoteResources } from "./ferry-resources/child.js";
