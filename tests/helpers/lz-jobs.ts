// c-lz (guest/programs/c-lz) as a WASI job over a client's resource directory, for the tests of what
// migration does with that directory: a cluster of real nodes sharing one client, the job started
// and paused mid-run, the straight run it must end as, and the job's end, output and files.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { programWasmPath } from "../../guest/programs/catalog.js";
import { generateSigningKey, type SigningKey } from "../../server/auth/index.js";
import type { JobDetail } from "../../server/node/job-resources.js";
import type { JobResourceDir } from "../../server/store/records.js";
import { startTestNode, type TestNode } from "./node.js";
import { linkPeers } from "./pins.js";
import { untilValue } from "./until.js";

export const LZ_ARGS = ["/data/words.txt", "/data/words.lz"];

export const program = (name: string): Uint8Array => readFileSync(programWasmPath(name));

/** The client's resource directory `name` at node `n`, on disk. */
export function resourceDir(n: TestNode, name: string): string {
  return join(n.dataDir, "resources", n.key.clientId, name);
}

/** `count` linked nodes, the same client on each (with `capabilities`); each started node is passed to `track` (for cleanup). */
export async function lzCluster(
  count: number,
  track: (n: TestNode) => void,
  options: { capabilities?: string[]; node?: (i: number) => Parameters<typeof startTestNode>[0] } = {},
): Promise<{ key: SigningKey; n: TestNode[] }> {
  const key = generateSigningKey();
  const n: TestNode[] = [];
  for (let i = 0; i < count; i++) {
    const node = await startTestNode({
      key,
      capabilities: options.capabilities ?? ["data/*:rw"],
      sharedModuleCache: true,
      quotas: { maxFuelPerJob: 1e13 },
      ...options.node?.(i),
    });
    track(node);
    n.push(node);
  }
  linkPeers(...n);
  return { key, n };
}

/** The exit status of a job that ended `done`; undefined for any other end. */
export function exitOf(view: { result: unknown }): number | undefined {
  const r = view.result as { status?: string; exitCode?: number } | null;
  return r?.status === "done" ? (r.exitCode ?? 0) : undefined;
}

export async function outputText(n: TestNode, id: string): Promise<string> {
  return Buffer.from((await n.client.outputPage(id)).bytes).toString("utf8");
}

/** The job once it has ended at `n` (done, trapped, failed or cancelled). */
export async function ended(n: TestNode, id: string, timeoutMs = 90_000): Promise<JobDetail> {
  return untilValue(
    async () => {
      const v = (await n.client.job(id)) as JobDetail;
      return ["done", "trapped", "failed", "cancelled"].includes(v.state) ? v : undefined;
    },
    `job ${id} to end at ${n.running.identity.nodeId}`,
    timeoutMs,
  );
}

/** c-lz on `input` at node `at`, in directory `data/<name>`, never moved: its output and compressed file. */
export async function straightRun(
  at: TestNode,
  input: Uint8Array,
  codeHash: string,
  name = "data/straight",
): Promise<{ stdout: string; lz: Buffer }> {
  mkdirSync(resourceDir(at, name), { recursive: true });
  writeFileSync(join(resourceDir(at, name), "words.txt"), input);
  const job = await at.client.startJob({
    codeHash,
    wasi: { args: LZ_ARGS, env: {}, dirs: [{ guest: "/data", resource: name, access: "rw" }] },
  });
  expect(exitOf(await ended(at, job.id))).toBe(0);
  return { stdout: await outputText(at, job.id), lz: readFileSync(join(resourceDir(at, name), "words.lz")) };
}

/** Start c-lz at `a` on `input` in the client's directory `dir.resource` (default "data") with `dir`'s options, and pause it mid-run. */
export async function pausedLz(
  a: TestNode,
  input: Uint8Array,
  dir: Partial<JobResourceDir> = {},
): Promise<{ id: string; codeHash: string }> {
  const resource = dir.resource ?? "data";
  mkdirSync(resourceDir(a, resource), { recursive: true });
  writeFileSync(join(resourceDir(a, resource), "words.txt"), input);
  const { codeHash } = await a.client.uploadModule(program("c-lz"));
  const job = await a.client.startJob({
    codeHash,
    wasi: { args: LZ_ARGS, env: {}, dirs: [{ guest: "/data", resource, access: "rw", ...dir }] },
  });
  expect((await a.client.pause(job.id)).state).toBe("paused");
  return { id: job.id, codeHash };
}
