// The three targets behind one interface: generate case `index` of a seeded run, run a case, and
// shrink a failing one. Module and snapshot cases are plain JSON, so a worker can run them and a
// failure file can replay them.

import type { CaseOutcome } from "./case.js";
import { generateModuleCase, runModuleCase, shrinkModuleCase, type ModuleCase } from "./modules.js";
import { generateSnapshotCase, runSnapshotCase, shrinkSnapshotCase, withBytes, type SnapshotCase } from "./snapshots.js";

export const TARGETS = ["modules", "snapshots", "http"] as const;
export type TargetName = (typeof TARGETS)[number];

export type WorkerCase = ModuleCase | SnapshotCase;

/** Case `index`, or why there is none (a generated module the harness cannot use). */
export async function generateCase(
  target: "modules" | "snapshots",
  seed: number,
  index: number,
): Promise<WorkerCase | { skipped: string }> {
  if (target === "modules") {
    const g = generateModuleCase(seed, index);
    return "skipped" in g ? g : g.case;
  }
  return generateSnapshotCase(seed, index);
}

export function runCase(spec: WorkerCase): Promise<CaseOutcome> {
  return spec.target === "modules" ? runModuleCase(spec) : runSnapshotCase(spec);
}

export function shrinkCase(spec: WorkerCase): WorkerCase[] {
  return spec.target === "modules" ? shrinkModuleCase(spec) : shrinkSnapshotCase(spec);
}

/** What goes into a failure file: everything needed to replay without regenerating. */
export async function forFile(spec: WorkerCase): Promise<WorkerCase> {
  return spec.target === "snapshots" ? withBytes(spec) : spec;
}
