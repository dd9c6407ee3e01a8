// The guest of the checkpoint benchmark (bench/checkpoints.ts) and how a node is given jobs of it:
// a program that fills its memory once with incompressible bytes (every page touched, as a job that
// holds that much), then loops forever rewriting the same first `changeBytes` of it with fresh
// xorshift output — so whatever the time between two checkpoints, the bytes that differ between
// them are exactly that region (once it has been rewritten at least once). Either it loops busy
// (a job that keeps a core: what the A/B table's nodes hold), or it sleeps `sleepMs` after each
// pass (WASI poll_oneoff on a clock), spending no CPU while it sleeps: the CPU curve starts each
// round while the guest sleeps, so the process's CPU over the round is the node's own work. (A
// checkpoint is transparent to a sleep: the pause ends the wait, and the resumed guest sleeps on
// to the same deadline.)

import { generateSigningKey } from "../server/auth/index.js";
import { FerryClient } from "../server/client.js";
import type { RunningNode } from "../server/node-server.js";
import { until } from "../tests/helpers/until.js";
import { watToWasm } from "./harness.js";
import { FILL_FUEL_PER_WORD, FILL_MEMORY_WAT } from "./node-pair.js";

export const MIB = 1024 * 1024;
const PAGE_BYTES = 65536;

export interface GuestShape {
  /** Memory held (and filled once), MiB. */
  memoryMib: number;
  /** Bytes rewritten per pass, from address 0 (a multiple of 8; 0: the job touches nothing after its fill). */
  changeBytes: number;
  /** Sleep this long after each pass, ms (0: loop busy). */
  sleepMs: number;
}

/**
 * The guest's WAT. Its `run` fills memory, then passes forever. A sleeping guest keeps its one
 * poll_oneoff subscription (48 bytes) and event (32 bytes) in the last 128 bytes of memory, outside
 * the rewritten region; the host writes the same event bytes after every sleep.
 */
export function guestWat(shape: GuestShape): string {
  const pages = (shape.memoryMib * MIB) / PAGE_BYTES;
  if (!Number.isSafeInteger(pages) || pages < 1)
    throw new Error(`guest memory must be a whole number of 64 KiB pages, got ${shape.memoryMib} MiB`);
  if (shape.changeBytes % 8 !== 0 || shape.changeBytes < 0 || shape.changeBytes > pages * PAGE_BYTES - 128)
    throw new Error(`guest change must be a multiple of 8 bytes within its memory, got ${shape.changeBytes}`);
  const sub = pages * PAGE_BYTES - 128;
  const sleeps = shape.sleepMs > 0;
  const sleep = sleeps ? `(drop (call $poll (i32.const ${sub}) (i32.const ${sub + 64}) (i32.const 1) (i32.const ${sub + 120})))` : "";
  return `(module
  ${sleeps ? `(import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))` : ""}
  (memory (export "memory") ${pages} ${pages})
  (func (export "run")
    (local $pages i32) (local $addr i32) (local $end i32) (local $x i64)
    (local.set $pages (i32.const ${pages}))
${FILL_MEMORY_WAT}    ${
    sleeps
      ? `;; one relative clock subscription: userdata, tag 0 (clock), clock 1 (monotonic), timeout, precision 0, flags 0
    (i64.store (i32.const ${sub}) (i64.const 7))
    (i64.store (i32.const ${sub + 8}) (i64.const 0))
    (i64.store (i32.const ${sub + 16}) (i64.const 1))
    (i64.store (i32.const ${sub + 24}) (i64.const ${BigInt(Math.round(shape.sleepMs * 1e6))}))
    (i64.store (i32.const ${sub + 32}) (i64.const 0))
    (i64.store (i32.const ${sub + 40}) (i64.const 0))`
      : ""
  }
    (loop $pass
      (local.set $addr (i32.const 0))
      (block $rewritten
        (loop $word
          (br_if $rewritten (i32.ge_u (local.get $addr) (i32.const ${shape.changeBytes})))
          (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
          (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
          (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
          (i64.store (local.get $addr) (local.get $x))
          (local.set $addr (i32.add (local.get $addr) (i32.const 8)))
          (br $word)))
      ${sleep}
      (br $pass)))
)`;
}

/** Fuel the fill spends at most: past it the job only passes. */
export function fillFuel(memoryMib: number): number {
  return FILL_FUEL_PER_WORD * ((memoryMib * MIB) / 8);
}

/** A client on `node` allowed jobs this large that run for ever. */
export function benchClient(node: RunningNode, maxMemoryPages: number): FerryClient {
  const key = generateSigningKey();
  node.store.clients.add({
    publicKey: key.publicKey,
    quotas: { maxMemoryPages, maxFuelPerJob: 1e15, maxConcurrentJobs: 1000 },
    capabilities: [],
  });
  return new FerryClient({ url: node.url, key });
}

/**
 * Upload the guest of `shape` and start `count` in-process jobs of it; resolves once every one has
 * filled its memory (a busy guest: it has spent more fuel than the fill can; a sleeping one: it is
 * asleep after its first pass, `asleep`).
 */
export async function startHeldJobs(client: FerryClient, shape: GuestShape, count: number): Promise<string[]> {
  const { codeHash } = await client.uploadModule(watToWasm(guestWat(shape)));
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const job = await client.startJob({
      codeHash,
      entry: "run",
      sandbox: "in-process",
      ...(shape.sleepMs > 0 ? { wasi: { args: [], env: {}, dirs: [] } } : {}),
    });
    if (job.state !== "running") throw new Error(`checkpoint bench: a held job is ${job.state}, not running`);
    ids.push(job.id);
  }
  for (const id of ids) {
    if (shape.sleepMs > 0) await asleep(client, id, 0);
    else {
      const filled = fillFuel(shape.memoryMib);
      await until(async () => (await jobFuel(client, id)) > filled, `held job ${id} to fill ${shape.memoryMib} MiB`, {
        timeoutMs: 120_000,
        everyMs: 20,
      });
    }
  }
  return ids;
}

/**
 * An idempotent call, tried again (up to twice more) when it failed to reach the node ("fetch
 * failed"). Seen once in the CPU curve, its cause not kept; the likely one: the client goes over
 * Node's keep-alive global agent, and a connection the node closes for idleness just as a request
 * goes out on it — both timers overdue after a long stretch of synchronous work on the event loop
 * they share, such as a full checkpoint of a large job — fails that way.
 */
export async function retried<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (!(e instanceof TypeError && e.message === "fetch failed") || attempt >= 3) throw e;
    }
  }
}

/** The fuel a running job has used so far. */
export async function jobFuel(client: FerryClient, id: string): Promise<number> {
  const view = await retried(() => client.job(id));
  if (view.state !== "running") throw new Error(`checkpoint bench: held job ${id} is ${view.state}, not running`);
  return view.fuelUsed;
}

/**
 * Resolves with the fuel of a sleeping guest's job once it has spent more than `sinceFuel` and then
 * nothing over three looks `everyMs` apart: it has run (its fill, or a pass since the last
 * checkpoint) and is asleep again. Its slices run on this process's event loop when its node is in
 * this process (the CPU curve), with the loop free between them, so its fuel stands still only
 * while it sleeps — or while the whole process waits for a core on a loaded machine, which the
 * third look makes less likely to be taken for sleep (the looks must be well under its sleep).
 */
export async function asleep(client: FerryClient, id: string, sinceFuel: number, everyMs = 20): Promise<number> {
  let last = -1;
  let same = 0;
  await until(
    async () => {
      const fuel = await jobFuel(client, id);
      same = fuel === last && fuel > sinceFuel ? same + 1 : 0;
      last = fuel;
      return same >= 2;
    },
    `held job ${id} asleep after spending more than ${sinceFuel} fuel`,
    { timeoutMs: 120_000, everyMs },
  );
  return last;
}
