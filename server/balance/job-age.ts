// A running job's age — the CPU work it has had on every node it ran on — in the milliseconds the
// balancer's cost model counts in. The work is the job's fuel, which a strong move carries in the
// snapshot's continuation header (a weak move restarts it at 0, as it restarts the job); fuel
// becomes milliseconds at the rate the job has burnt fuel here, or the node's usual rate.

export interface AgeInput {
  /** Fuel the job has used in all, on this node and on any it was moved from. */
  fuel: number;
  /** Fuel it had used when it started running here (0 unless it was moved here strongly). */
  fuelAtStart: number;
  /** Wall-clock ms it has been running here. */
  legMs: number;
  /** Fuel per ms the node's jobs have burnt (undefined until one has run a measurable leg). */
  fuelPerMs: number | undefined;
}

/**
 * Age in ms: all its fuel over the rate it runs at. A job that started here is as old as its leg
 * here; one moved here also counts the work it brought. Without any rate yet, only the leg here.
 */
export function jobAgeMs(a: AgeInput): number {
  const legFuel = a.fuel - a.fuelAtStart;
  const rate = legFuel > 0 && a.legMs > 0 ? legFuel / a.legMs : a.fuelPerMs;
  if (rate === undefined || !(rate > 0) || !(a.fuel > 0)) return Math.max(0, a.legMs);
  return Math.max(a.legMs, a.fuel / rate);
}
