// The engines module cases compile in: one per memory cap, kept across cases (an engine is settings
// plus a compile cache, so a case gets exactly what a new one would give), replaced after a few
// hundred modules so the cache does not grow without end. Keeping them lets the next case's module
// be instrumented in the compile pool's thread while this case runs (prewarm): the case's own
// compile then finds it done.

import { Engine } from "../runtime/index.js";
import { fromBase64 } from "./case.js";
import type { HostileSpec } from "./hostile.js";

/** What an engine depends on in a module case: its module, and the memory a hostile shape needs. */
export interface EngineCase {
  wasm: string;
  hostile?: HostileSpec;
}

/** Memory cap of the fuzzing engine (16 MiB): small, so a case never holds much host memory. */
export const FUZZ_MAX_MEMORY_PAGES = 256;

/** Modules an engine compiles before it is replaced (each keeps its instrumented bytes and V8 module). */
const MODULES_PER_ENGINE = 256;

/** Engines kept at once (by memory cap, oldest made first out). */
const MAX_ENGINES = 8;

const engines = new Map<number, { engine: Engine; modules: number }>();

/** The engine memory cap a case needs: the fuzzing cap, or more for a hostile shape that grows past it. */
export function memoryPagesFor(spec: EngineCase): number {
  return Math.max(FUZZ_MAX_MEMORY_PAGES, spec.hostile ? spec.hostile.host.memoryPages + 1 : 0);
}

/** A brand-new engine with the case's settings (restores that must compile the module themselves). */
export function newEngineFor(spec: EngineCase): Engine {
  return new Engine({ maxMemoryPages: memoryPagesFor(spec) });
}

/** The shared engine for a case; counts the module it is about to compile. */
export function engineFor(spec: EngineCase): Engine {
  const pages = memoryPagesFor(spec);
  let e = engines.get(pages);
  if (!e || e.modules >= MODULES_PER_ENGINE) {
    e = { engine: newEngineFor(spec), modules: 0 };
    engines.delete(pages);
    engines.set(pages, e);
    // Hostile shapes ask for many different caps: keep the few most recent engines, not one per cap.
    for (const key of engines.keys()) if (engines.size > MAX_ENGINES && key !== pages) engines.delete(key);
  }
  e.modules++;
  return e.engine;
}

/** Start compiling a case's module in its shared engine, ahead of the case (failures are the case's to see). */
export function prewarm(spec: EngineCase): void {
  engineFor(spec)
    .compile(fromBase64(spec.wasm))
    .catch(() => {});
}
