// One node of the checkpoint benchmark's A/B table (bench/checkpoints.ts), run as a child process so
// the event loop its held jobs, its checkpoints and the tiny jobs share is its own, and neither the
// other node nor the load generator runs on it. Driven over IPC: "start" (a node with this
// checkpoint interval, holding these jobs, answering with its URL and the tiny module's hash), "cpu"
// (this process's CPU so far), "close".

import { rmSync } from "node:fs";
import { startNode, type RunningNode } from "../server/node-server.js";
import { benchClient, type GuestShape, startHeldJobs } from "./checkpoint-guest.js";
import { watToWasm } from "./harness.js";
import { tempDir } from "./node-pair.js";

export interface CheckpointNodeStart {
  type: "start";
  checkpointIntervalMs: number;
  jobs: number;
  shape: GuestShape;
}

export type CheckpointNodeRequest = CheckpointNodeStart | { type: "cpu" } | { type: "close" };

export type CheckpointNodeReply =
  | { type: "ready"; url: string; tinyHash: string; jobIds: string[] }
  | { type: "cpu"; userUs: number; systemUs: number }
  | { type: "closed" }
  | { type: "error"; error: string };

const TINY_WAT = `(module (func (export "main") (result i32) (i32.const 42)))`;

let running: RunningNode | undefined;
let dir: string | undefined;

async function handle(m: CheckpointNodeRequest): Promise<CheckpointNodeReply> {
  switch (m.type) {
    case "start": {
      dir = tempDir();
      const pages = (m.shape.memoryMib * 1024 * 1024) / 65536;
      running = await startNode({ dataDir: dir, checkpointIntervalMs: m.checkpointIntervalMs, maxMemoryPages: Math.max(pages, 256) });
      const client = benchClient(running, Math.max(pages, 256));
      const { codeHash: tinyHash } = await client.uploadModule(watToWasm(TINY_WAT), { public: true });
      const jobIds = await startHeldJobs(client, m.shape, m.jobs);
      return { type: "ready", url: running.url, tinyHash, jobIds };
    }
    case "cpu": {
      const cpu = process.cpuUsage();
      return { type: "cpu", userUs: cpu.user, systemUs: cpu.system };
    }
    case "close": {
      await running?.close();
      running = undefined;
      if (dir) rmSync(dir, { recursive: true, force: true });
      return { type: "closed" };
    }
  }
}

process.on("message", (m: CheckpointNodeRequest) => {
  handle(m).then(
    (reply) => process.send!(reply),
    (e: unknown) => process.send!({ type: "error", error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
  );
});
process.on("disconnect", () => {
  // The parent is gone (or done): leave nothing behind.
  void (running?.close() ?? Promise.resolve()).finally(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});
