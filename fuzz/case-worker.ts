// Runs worker requests with a deadline: a case that does not answer in time, or a worker that dies
// (a crash, a heap blow-up), becomes a failure of that case, and the next case gets a fresh worker.

import { Worker } from "node:worker_threads";
import { readStage } from "./case.js";
import type { WorkerReply, WorkerRequest } from "./worker.js";

export class WorkerGone extends Error {
  constructor(
    readonly kind: "hang" | "crash",
    detail: string,
  ) {
    super(detail);
  }
}

type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

export class CaseWorker {
  private worker: Worker | undefined;
  /** The last stage the running case reported (fuzz/case.ts progress), as the worker writes it. */
  private readonly stages = new SharedArrayBuffer(4 + 1024);
  private nextId = 1;
  private readonly pending = new Map<number, { worker: Worker; resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(private readonly heapMb = 3072) {}

  call(request: Request, timeoutMs: number): Promise<unknown> {
    const worker = this.ensure();
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        const stage = readStage(this.stages);
        reject(new WorkerGone("hang", `no answer within ${timeoutMs} ms${stage ? `; last stage: ${stage}` : ""}`));
        void this.kill();
      }, timeoutMs);
      this.pending.set(id, {
        worker,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      Atomics.store(new Int32Array(this.stages, 0, 1), 0, 0);
      worker.postMessage({ ...request, id });
    });
  }

  async kill(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL("./worker.js", import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
      workerData: { stages: this.stages },
    });
    w.on("message", (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.error !== undefined) p.reject(new Error(reply.error));
      else p.resolve(reply.value);
    });
    // Only this worker's requests fail with it: a replacement may already be serving new ones.
    const gone = (why: string): void => {
      if (this.worker === w) this.worker = undefined;
      for (const [id, p] of this.pending) {
        if (p.worker !== w) continue;
        this.pending.delete(id);
        p.reject(new WorkerGone("crash", why));
      }
    };
    w.on("error", (e) => gone(`worker error: ${e.message}`));
    w.on("exit", (code) => gone(`worker exited with code ${code}`));
    w.unref();
    this.worker = w;
    return w;
  }
}
