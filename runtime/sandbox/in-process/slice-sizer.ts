// Sizes fuel slices so one slice of an in-process guest holds the host's thread for about a
// wall-clock budget. Fuel is deterministic but its speed is not (a fuel unit can be an add or a
// cache miss), so each job learns its own rate from the slices it has run.

import { FerryError } from "../../errors.js";

export interface SliceSizerOptions {
  /** Longest a slice should hold the event loop, in ms. Default 4. */
  sliceBudgetMs?: number;
  /** First slice's fuel, before any rate is known. Default 20,000 (well under a ms). */
  initialSliceFuel?: number;
  /** Smallest slice, in fuel. Default 1,000. */
  minSliceFuel?: number;
  /** Largest slice, in fuel. Default 100,000,000. */
  maxSliceFuel?: number;
}

export const DEFAULT_SLICE_BUDGET_MS = 4;

/** Aim below the budget: the rate wobbles from slice to slice. */
const TARGET_FRACTION = 0.7;
/** A slice may grow at most this much over the previous one, so one misleading fast slice cannot blow the budget. */
const MAX_GROWTH = 4;
/** Shorter than this, a slice's wall time is mostly the timer's own resolution and overhead. */
const TIMEABLE_MS = 0.05;

export class SliceSizer {
  private readonly budgetMs: number;
  private readonly min: number;
  private readonly max: number;
  private fuel: number;
  /** Fuel per ms, smoothed; undefined until a slice long enough to time has run. */
  private rate: number | undefined;

  constructor(o: SliceSizerOptions = {}) {
    const budget = o.sliceBudgetMs ?? DEFAULT_SLICE_BUDGET_MS;
    if (!(typeof budget === "number" && Number.isFinite(budget) && budget > 0 && budget <= 10_000)) {
      throw new FerryError("invalid_option", `\`sliceBudgetMs\` must be a number of milliseconds in (0, 10000], got ${String(budget)}`);
    }
    this.budgetMs = budget;
    this.min = integer("minSliceFuel", o.minSliceFuel, 1_000);
    this.max = integer("maxSliceFuel", o.maxSliceFuel, 100_000_000);
    if (this.min > this.max)
      throw new FerryError("invalid_option", `\`minSliceFuel\` (${this.min}) must not exceed \`maxSliceFuel\` (${this.max})`);
    this.fuel = Math.min(this.max, Math.max(this.min, integer("initialSliceFuel", o.initialSliceFuel, 20_000)));
  }

  nextFuel(): number {
    return this.fuel;
  }

  /** The wall-clock budget: a slice whose fuel turns out slow ends here (RunOptions.sliceMs). */
  get sliceMs(): number {
    return this.budgetMs;
  }

  /**
   * After a slice: the fuel it used and its wall time. (The fuel of this slice alone: a job continued
   * after a pause or a migration has a large total already, which says nothing about its speed.)
   */
  observe(used: number, ms: number): void {
    if (used <= 0) return; // nothing ran
    if (ms < TIMEABLE_MS) {
      // Too short to time. A slice that used all its fuel that fast is far under the budget: grow
      // it (else a fast machine, whose first 20,000 fuel take microseconds, never leaves the first
      // size, and a throttled lane starves). One that stopped early says nothing.
      if (used >= this.fuel) this.fuel = Math.min(this.max, this.fuel * MAX_GROWTH);
      return;
    }
    const rate = used / ms;
    this.rate = this.rate === undefined ? rate : 0.5 * this.rate + 0.5 * rate;
    // Slow slices shrink the next one at once; fast ones grow it gradually.
    const ideal = Math.min(this.rate, rate) * this.budgetMs * TARGET_FRACTION;
    this.fuel = Math.round(Math.min(this.max, Math.max(this.min, Math.min(ideal, this.fuel * MAX_GROWTH))));
  }
}

function integer(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1)
    throw new FerryError("invalid_option", `\`${name}\` must be a positive integer, got ${String(value)}`);
  return value;
}
