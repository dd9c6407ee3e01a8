// Module cases made ahead of time, in batches, so a case never waits for wasm-opt: while case i runs,
// the batch after it is being translated (one shell, one spawn per batch) and the next case's module
// is being instrumented in the compile pool's thread (fuzz/engines.ts). Case i is still the pure
// function of (seed, i) that generateModuleCase gives; only when its parts are made changes.

import { finishModuleCase, planModuleCase, type GenerateOptions, type Generated } from "./modules.js";
import { prewarm } from "./engines.js";
import { translateToFuzzBatch } from "./wasm-opt.js";

/** Cases per wasm-opt spawn. */
const BATCH = 32;
/** Cases whose modules are handed to the compile pool ahead of the one asked for. */
const PREWARM_AHEAD = 3;

export class ModuleCaseSource {
  /** Batches by their first index (a multiple of BATCH), each case made or failed. */
  private readonly batches = new Map<number, Promise<Array<Generated | Error>>>();
  private seed: number | undefined;
  /** Indices already handed to prewarm. */
  private readonly prewarmed = new Set<number>();

  constructor(private readonly options: GenerateOptions = {}) {}

  /** Case `index` of `seed`: what generateModuleCase(seed, index) gives, usually already made. */
  async get(seed: number, index: number): Promise<Generated> {
    if (seed !== this.seed) {
      this.batches.clear();
      this.prewarmed.clear();
      this.seed = seed;
    }
    const first = index - (index % BATCH);
    const batch = this.batch(seed, first);
    // Keep one batch ahead, and forget those behind.
    void this.batch(seed, first + BATCH);
    for (const k of this.batches.keys()) if (k < first) this.batches.delete(k);
    const made = (await batch)[index - first]!;
    if (made instanceof Error) throw made;
    // The next cases' modules go to the compile pool's thread now, while this case runs here (a few
    // ahead, so a long case followed by short ones keeps the pool busy; each is compiled once).
    for (let k = index + 1; k <= index + PREWARM_AHEAD; k++) {
      if (this.prewarmed.has(k)) continue;
      this.prewarmed.add(k);
      const kFirst = k - (k % BATCH);
      void this.batch(seed, kFirst).then((cases) => {
        const next = cases[k - kFirst];
        if (next && !(next instanceof Error) && "case" in next) prewarm(next.case);
      });
    }
    for (const k of this.prewarmed) if (k <= index) this.prewarmed.delete(k);
    return made;
  }

  private batch(seed: number, first: number): Promise<Array<Generated | Error>> {
    let b = this.batches.get(first);
    if (!b) {
      b = makeBatch(seed, first, this.options);
      b.catch(() => {});
      this.batches.set(first, b);
    }
    return b;
  }
}

async function makeBatch(seed: number, first: number, options: GenerateOptions): Promise<Array<Generated | Error>> {
  const plans = Array.from({ length: BATCH }, (_, k) => planModuleCase(seed, first + k, options));
  const ttf = plans.filter((p) => p.ttf);
  const made = ttf.length > 0 ? await translateToFuzzBatch(ttf.map((p) => p.ttf!)) : [];
  const byIndex = new Map(ttf.map((p, k) => [p.index, made[k]!]));
  return plans.map((p) => {
    try {
      return finishModuleCase(p, byIndex.get(p.index));
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  });
}
