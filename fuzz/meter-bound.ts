// The metering bound the instrumentation promises: the most fuel a guest can use between two fuel
// checks, so a run with a fuel limit L stops with fuelUsed ≤ L + meterBound (issue 8 §1).
//
// ─── MARKED PLACE: meterBound ───────────────────────────────────────────────────────────────────
// The lead is adding `meterBound: number` (fuel units) to the code segment (CodeSegment, reached as
// GuestModule.segment). Until it is there this returns undefined and the fuzzers skip exactly the
// bound checks, saying so in their summary; every other check runs. Nothing here needs to change
// when it lands.
// ─────────────────────────────────────────────────────────────────────────────────────────────────

import type { GuestModule } from "../runtime/index.js";

export function meterBoundOf(module: GuestModule): number | undefined {
  const bound = (module.segment as { meterBound?: unknown }).meterBound;
  return typeof bound === "number" && Number.isFinite(bound) && bound >= 0 ? bound : undefined;
}
