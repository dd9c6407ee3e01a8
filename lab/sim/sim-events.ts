// What both simulators (FCFS nodes: simulator.ts; time-sharing nodes: ts-simulator.ts) put in their
// event queue, and how they count each job's outcome at the end.

import type { ProbeKind } from "../../runtime/balance/index.js";

/** Event kinds. */
export const ARRIVAL = 0;
export const DONE = 1;
export const MESSAGE = 2;
export const JOB_IN = 3;
export const TIMER = 4;

/** A JOB_IN event's payload: the transfer a policy asked for, with the job it carries. */
export interface Transfer {
  from: number;
  probe: ProbeKind;
  id: number;
  job: number; // −1: nothing was moved
  bytes: number;
}

/** Jobs never completed and jobs completed more than once, from each job's completion count: both must be 0. */
export function countOutcomes(done: Uint8Array): { lost: number; duplicated: number } {
  let lost = 0;
  let duplicated = 0;
  for (const d of done) {
    if (d === 0) lost++;
    else if (d > 1) duplicated++;
  }
  return { lost, duplicated };
}
