// Load generator for bench/node.ts, run as a child process so the client's CPU is not the node's:
// keeps `concurrency` POSTs in flight over keep-alive connections for `durationMs`, and answers with
// every request's latency. Driven over IPC: one LoadRequest in, one LoadReport out, until disconnected.

import { Agent, request } from "node:http";

export interface LoadRequest {
  url: string;
  path: string;
  /** JSON body of every request. */
  body: string;
  concurrency: number;
  /** New requests start until this much time has passed; those in flight then still complete. */
  durationMs: number;
  /** Every answer must have this status and contain this text (a wrong answer voids the round). */
  expectStatus: number;
  expectText: string;
}

export interface LoadReport {
  completed: number;
  failed: number;
  firstFailure: string | null;
  /** First request sent to last answer received. */
  wallMs: number;
  /** Per completed request, ms, in completion order. */
  latenciesMs: number[];
  /** This process's CPU over the round, ms. */
  cpuUserMs: number;
  cpuSystemMs: number;
}

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

async function runLoad(req: LoadRequest): Promise<LoadReport> {
  const target = new URL(req.path, req.url);
  const agent = new Agent({ keepAlive: true, maxSockets: req.concurrency });
  const body = Buffer.from(req.body, "utf8");
  const latencies: number[] = [];
  let failed = 0;
  let firstFailure: string | null = null;
  const cpu0 = process.cpuUsage();
  const started = nowMs();
  const stopAt = started + req.durationMs;

  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t0 = nowMs();
      const r = request(
        target,
        { method: "POST", agent, headers: { "content-type": "application/json", "content-length": body.byteLength } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode === req.expectStatus && text.includes(req.expectText)) latencies.push(nowMs() - t0);
            else {
              failed++;
              firstFailure ??= `HTTP ${res.statusCode}: ${text.slice(0, 800)}`;
            }
            resolve();
          });
        },
      );
      r.on("error", (e) => {
        failed++;
        firstFailure ??= e.message;
        resolve();
      });
      r.end(body);
    });

  const worker = async (): Promise<void> => {
    while (nowMs() < stopAt) await one();
  };
  await Promise.all(Array.from({ length: req.concurrency }, worker));
  const wallMs = nowMs() - started;
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  return {
    completed: latencies.length,
    failed,
    firstFailure,
    wallMs,
    latenciesMs: latencies,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
  };
}

process.on("message", (message: LoadRequest) => {
  runLoad(message).then(
    (report) => process.send!(report),
    (e: unknown) => process.send!({ error: e instanceof Error ? e.message : String(e) }),
  );
});
process.on("disconnect", () => process.exit(0));
