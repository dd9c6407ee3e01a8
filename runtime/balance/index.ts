// Load sharing's public surface (`import { createPolicy } from "ferry/balance"`): the policies, their
// options and thresholds, the load metrics, the migration-cost model, the queueing-theory results
// and the single-threshold policies' mean-field models the simulator is checked against, and the
// seeded random numbers both drive. Pure: no I/O, no clock, nothing but `errors.ts` from the rest
// of the runtime.

export * from "./load-metric.js";
export * from "./mean-field.js";
export * from "./migration-cost.js";
export * from "./policy-options.js";
export * from "./policy.js";
export * from "./preemption.js";
export type * from "./protocol.js";
export * from "./queueing.js";
export * from "./rng.js";
export * from "./thresholds.js";
