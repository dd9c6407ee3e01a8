// The worker thread that runs module and snapshot cases for fuzz/main.ts, so a case that hangs
// (a meter escape) or exhausts the heap is ended from outside and reported, not waited for.

import { parentPort, workerData } from "node:worker_threads";
import { describeError, reportStagesTo } from "./case.js";
import { ModuleCaseSource } from "./module-source.js";
import { forFile, generateCase, runCase, shrinkCase, type WorkerCase } from "./targets.js";

reportStagesTo((workerData as { stages: SharedArrayBuffer }).stages);

/** Module cases are made in batches ahead of the one asked for (fuzz/module-source.ts). */
const modules = new ModuleCaseSource();

export type WorkerRequest =
  | { id: number; op: "generate"; target: "modules" | "snapshots"; seed: number; index: number }
  | { id: number; op: "run"; spec: WorkerCase }
  | { id: number; op: "shrink"; spec: WorkerCase }
  | { id: number; op: "file"; spec: WorkerCase };

export interface WorkerReply {
  id: number;
  value?: unknown;
  error?: string;
}

parentPort?.on("message", (req: WorkerRequest) => {
  void (async (): Promise<unknown> => {
    switch (req.op) {
      case "generate":
        if (req.target === "modules") {
          const g = await modules.get(req.seed, req.index);
          return "skipped" in g ? g : g.case;
        }
        return generateCase(req.target, req.seed, req.index);
      case "run":
        return runCase(req.spec);
      case "shrink":
        return shrinkCase(req.spec);
      case "file":
        return forFile(req.spec);
    }
  })().then(
    (value) => parentPort!.postMessage({ id: req.id, value } satisfies WorkerReply),
    (e: unknown) => parentPort!.postMessage({ id: req.id, error: describeError(e) } satisfies WorkerReply),
  );
});
