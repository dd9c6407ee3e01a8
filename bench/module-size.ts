// Tiny jobs against the size of their module: the same one-instruction guest uploaded twice, once
// as it is and once padded to just under 4 MiB with a custom section (its bytes, not its code), run
// by an anonymous caller in-process over HTTP, 8 in flight. A node keeps compiled modules by hash:
// a job of a module it has compiled reads and hashes none of its bytes, so the module's size should
// not cost a job anything (issue 13, section 3: 4 MiB ≥ 0.8× tiny).

import { rmSync } from "node:fs";
import { concatBytes, encodeSection, ulebBytes } from "../runtime/code/wasm-encode.js";
import { generateSigningKey } from "../server/auth/index.js";
import { FerryClient } from "../server/client.js";
import { startNode } from "../server/node-server.js";
import { check, fmtInt, fmtRatio, interleave, median, printTable, type TargetCheck, watToWasm } from "./harness.js";
import { tempDir } from "./node-pair.js";

/** Just under the upload limit of 4 MiB, with room for the module's own bytes and the section's header. */
const PADDED_BYTES = (4 << 20) - 4096;
const JOBS_PER_SAMPLE = 100;
const IN_FLIGHT = 8;
export const TARGET_MODULE_SIZE_RATIO = 0.8;

export interface ModuleSizeRow {
  module: string;
  bytes: number;
  jobsPerSecond: number;
  vsTiny: number;
}

/** `wasm` followed by a custom section (id 0) named "pad" holding `extra` zero bytes. */
function padded(wasm: Uint8Array, extra: number): Uint8Array {
  const name = new TextEncoder().encode("pad");
  return concatBytes([wasm, encodeSection(0, [ulebBytes(name.byteLength), name, new Uint8Array(extra)])]);
}

export async function benchModuleSize(runs: number, warmup: number): Promise<{ rows: ModuleSizeRow[]; target: TargetCheck }> {
  const dir = tempDir();
  const node = await startNode({ dataDir: dir, checkpointIntervalMs: 0 });
  try {
    const key = generateSigningKey();
    node.store.clients.add({ publicKey: key.publicKey, quotas: {}, capabilities: [] });
    const uploader = new FerryClient({ url: node.url, key });
    const anonymous = new FerryClient({ url: node.url });
    const tiny = watToWasm(`(module (func (export "main") (result i32) (i32.const 42)))`);
    const modules = [
      { name: "tiny", bytes: tiny },
      { name: "padded to 4 MiB", bytes: padded(tiny, PADDED_BYTES - tiny.byteLength) },
    ];
    const hashes = new Map<string, string>();
    for (const m of modules) hashes.set(m.name, (await uploader.uploadModule(m.bytes, { public: true })).codeHash);
    const samples = await interleave(
      modules.map((m) => ({
        name: m.name,
        sample: async () => {
          const t0 = performance.now();
          for (let done = 0; done < JOBS_PER_SAMPLE; done += IN_FLIGHT) {
            const batch = Array.from({ length: Math.min(IN_FLIGHT, JOBS_PER_SAMPLE - done) }, () =>
              anonymous.startJob({ codeHash: hashes.get(m.name)!, waitMs: 10_000 }),
            );
            for (const view of await Promise.all(batch))
              if (view.state !== "done") throw new Error(`module-size: a job ended ${view.state}`);
          }
          return performance.now() - t0;
        },
      })),
      { warmup, runs, gcBetween: false },
    );
    const rate = (name: string) => JOBS_PER_SAMPLE / (median(samples.get(name)!) / 1000);
    const rows = modules.map((m) => ({
      module: m.name,
      bytes: m.bytes.byteLength,
      jobsPerSecond: rate(m.name),
      vsTiny: rate(m.name) / rate("tiny"),
    }));
    printTable({
      title: `Tiny anonymous jobs against their module's size (median of ${runs} interleaved samples of ${JOBS_PER_SAMPLE} jobs, ${IN_FLIGHT} in flight)`,
      headers: ["module", "bytes", "jobs/s", "÷ tiny"],
      rows: rows.map((r) => [r.module, fmtInt(r.bytes), fmtInt(Math.round(r.jobsPerSecond)), fmtRatio(r.vsTiny)]),
      notes: [
        "POST /jobs with waitMs (each answer is the finished job), in-process, from this process; the padded module is the tiny one plus a custom section.",
      ],
    });
    const target = check("node: tiny jobs with a 4 MiB module ÷ a tiny one", rows[1]!.vsTiny, ">=", TARGET_MODULE_SIZE_RATIO, "×");
    return { rows, target };
  } finally {
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
