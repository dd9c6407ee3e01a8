// Two Ferry nodes in this process, peers of each other with one client on both, and the guest
// that fills memory with incompressible bytes: what the migration and pre-copy benchmarks share.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSigningKey } from "../server/auth/index.js";
import { FerryClient } from "../server/client.js";
import type { PrecopyOptions } from "../server/migration/precopy.js";
import type { TransferProbe } from "../server/migration/migrator.js";
import { type RunningNode, startNode } from "../server/node-server.js";

/** Upper bound of the fuel `fill` spends per 8-byte word (its loop body is ~29 instructions). */
export const FILL_FUEL_PER_WORD = 40;

/**
 * WAT that fills memory [0, $end) with xorshift64 output, 8 bytes at a time, from the seed in $x
 * (incompressible, every page touched), $end being `$pages` pages. The function needs an i32 param
 * $pages, i32 locals $addr and $end and an i64 local $x.
 */
export const FILL_MEMORY_WAT = `    (local.set $x (i64.const 0x2545F4914F6CDD1D))
    (local.set $end (i32.shl (local.get $pages) (i32.const 16)))
    (block $filled
      (loop $word
        (br_if $filled (i32.ge_u (local.get $addr) (local.get $end)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (i64.store (local.get $addr) (local.get $x))
        (local.set $addr (i32.add (local.get $addr) (i32.const 8)))
        (br $word)))
`;

export interface NodePair {
  a: RunningNode;
  b: RunningNode;
  clientA: FerryClient;
  clientB: FerryClient;
  dirs: string[];
  close(): Promise<void>;
}

/**
 * Two nodes in this process that are each other's peer, one client on both (with `capabilities`, so
 * its WASI jobs may bind resource directories); `precopy` per node, `transferProbe` on both.
 */
export async function startPair(
  precopy: { a?: PrecopyOptions; b?: PrecopyOptions } = {},
  transferProbe?: TransferProbe,
  capabilities: string[] = [],
): Promise<NodePair> {
  const key = generateSigningKey();
  const dirs = [tempDir(), tempDir()];
  const probe = transferProbe ? { transferProbe } : {};
  // No periodic checkpoints: one would pause the job at a random moment of a sample.
  const a = await startNode({ dataDir: dirs[0]!, checkpointIntervalMs: 0, ...probe, ...(precopy.a ? { precopy: precopy.a } : {}) });
  const b = await startNode({ dataDir: dirs[1]!, checkpointIntervalMs: 0, ...probe, ...(precopy.b ? { precopy: precopy.b } : {}) });
  for (const n of [a, b]) {
    n.store.clients.add({
      publicKey: key.publicKey,
      quotas: { maxMemoryPages: 1024, maxFuelPerJob: 1e15, maxConcurrentJobs: 1000 },
      capabilities,
    });
  }
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const)
    x.store.peers.upsert({ nodeId: y.identity.nodeId, url: y.url, publicKey: y.identity.publicKey });
  return {
    a,
    b,
    clientA: new FerryClient({ url: a.url, key }),
    clientB: new FerryClient({ url: b.url, key }),
    dirs,
    close: async () => {
      await a.close();
      await b.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "ferry-bench-node-"));
}
