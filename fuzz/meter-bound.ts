// The metering bound the instrumentation promises (docs/metering.md): a run with a fuel limit L
// stops having charged at most L + meterBound, plus the charge of the last host call or
// memory.grow it made; a slice of S fuel pauses within S + meterBound plus that charge.
// meterBound is read from the code segment; "that charge" is bounded by the largest single charge
// the module's host imports or memory.grow instructions can make under the runtime's own pricing
// (its functions and constants, so the fuzzer never disagrees with the runtime about a price).

import binaryen from "binaryen";
import { IrWalker } from "../runtime/code/ir-walk.js";
import { GROW_BYTES_PER_FUEL_LOG2 } from "../runtime/code/meter-helpers.js";
import { readModuleStructure, type ModuleStructure } from "../runtime/code/wasm-reader.js";
import { HOST_CALL_FUEL, MAX_LOG_LINE_BYTES, hostCallFuel } from "../runtime/host/index.js";
import type { GuestModule } from "../runtime/index.js";
import { MAX_HOST_IO_BYTES } from "../runtime/limits.js";
import { RESOURCE_OPEN_FUEL } from "../runtime/host/ferry-resources/session.js";
import { SUPPORTED_FEATURES } from "./ttf-rewrite.js";

export function meterBoundOf(module: GuestModule): number | undefined {
  const bound = (module.segment as { meterBound?: unknown }).meterBound;
  return typeof bound === "number" && Number.isFinite(bound) && bound >= 0 ? bound : undefined;
}

/** The most one host call to `ferry.<name>` can be charged (a resource open: plus the file it copies). */
function importCharge(name: string, largestFile: number): number {
  switch (name) {
    case "input_read":
    case "output_write":
    case "resource_read":
    case "resource_write":
      return hostCallFuel(MAX_HOST_IO_BYTES);
    case "log":
      return hostCallFuel(MAX_LOG_LINE_BYTES);
    case "resource_open":
      return RESOURCE_OPEN_FUEL + hostCallFuel(largestFile);
    default:
      return HOST_CALL_FUEL;
  }
}

/** The most one host call of this (original) module can be charged. */
function hostCharge(s: ModuleStructure, largestFile: number): number {
  let most = 0;
  for (const i of s.imports) if (i.module === "ferry" && i.kind === "func") most = Math.max(most, importCharge(i.name, largestFile));
  return most;
}

/**
 * The most one memory.grow of this module can be charged in an engine capped at `maxMemoryPages`
 * (a grow is charged by the memory's new size), or 0 when it has no memory.grow: the code is read
 * only when asked, as few stops need it.
 */
function growCharge(bytes: Uint8Array, s: ModuleStructure, maxMemoryPages: number): number {
  const memory = s.memories[0];
  if (!memory) return 0;
  const reach = Math.min(memory.max ?? maxMemoryPages, maxMemoryPages);
  if (reach <= memory.min || !containsMemoryGrow(bytes)) return 0;
  return (reach * 65_536) >> GROW_BYTES_PER_FUEL_LOG2;
}

function containsMemoryGrow(bytes: Uint8Array): boolean {
  const m = binaryen.readBinary(bytes);
  try {
    m.setFeatures(SUPPORTED_FEATURES);
    const walker = new IrWalker(binaryen);
    let found = false;
    const visit = (e: number): number => {
      if (!found && binaryen.getExpressionId(e) === binaryen.MemoryGrowId) found = true;
      if (!found) walker.mapChildren(e, visit);
      return e;
    };
    for (let i = 0; i < m.getNumFunctions() && !found; i++) {
      const body = binaryen.getFunctionInfo(m.getFunctionByIndex(i)).body;
      if (body) visit(body);
    }
    return found;
  } finally {
    m.dispose();
  }
}

/** What a stop may reach beyond its fuel: the module's meterBound plus one host call's or grow's charge. */
export interface StopBound {
  meterBound: number;
  hostCharge: number;
  growCharge(): number;
}

/** The stop bound of a compiled module (undefined while its code segment reports no meterBound). */
export function stopBoundOf(module: GuestModule, original: Uint8Array, maxMemoryPages: number, largestFile = 0): StopBound | undefined {
  const meterBound = meterBoundOf(module);
  return meterBound === undefined ? undefined : stopBound(meterBound, original, maxMemoryPages, largestFile);
}

/** The stop bound of an (original) module given its meterBound. */
export function stopBound(meterBound: number, original: Uint8Array, maxMemoryPages: number, largestFile = 0): StopBound {
  const s = readModuleStructure(original);
  let grow: number | undefined;
  return { meterBound, hostCharge: hostCharge(s, largestFile), growCharge: () => (grow ??= growCharge(original, s, maxMemoryPages)) };
}

/** Why `used` fuel breaks the bound of a stop given `fuel`, or undefined when it does not. */
export function overBound(b: StopBound, fuel: number, used: number): string | undefined {
  if (used <= fuel + b.meterBound + b.hostCharge) return undefined;
  const charge = Math.max(b.hostCharge, b.growCharge());
  if (used <= fuel + b.meterBound + charge) return undefined;
  return `${used} fuel, over ${fuel} + meterBound ${b.meterBound} + one charge ${charge} (the most one host call or memory.grow of this module costs)`;
}
