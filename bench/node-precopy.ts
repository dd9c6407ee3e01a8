// Iterative pre-copy against a single copy, side by side in one run: a 16 MiB guest that keeps
// rewriting its memory (one page every so often) migrates between two real nodes on loopback. Node
// A pre-copies once (maxRounds 1), node B iterates (the default); each sample starts a fresh job on
// one of them and moves it to the other, so both variants see the same guest, link and machine.

import type { TransferMark } from "../server/migration/migrator.js";
import { checkpointSnapshot } from "../server/migration/checkpoint-format.js";
import { fmtBytes, fmtMs, fmtRatio, interleave, median, nowMs, printTable, watToWasm } from "./harness.js";
import { until } from "../tests/helpers/until.js";
import { FILL_FUEL_PER_WORD, FILL_MEMORY_WAT, type NodePair, startPair } from "./node-pair.js";

const MIB = 1024 * 1024;
const PAGE_BYTES = 65536;
const MEMORY_MIB = 16;
/** Spin iterations between two page writes: with metering, about a page every 0.1–0.2 ms here. */
const SPIN_PER_WRITE = 1_000_000;

export interface PrecopyRow {
  variant: string;
  downtimeMs: number;
  /** Bytes of the PREPARE body (the delta left for the stop). */
  prepareBytes: number;
  /** Pre-copy rounds sent (median). */
  rounds: number;
  samples: { downtime: number[]; prepareBytes: number[]; rounds: number[] };
}

/** Fill `pages` of memory, then rewrite one word in each page in turn, `spin` iterations apart, forever. */
function writerWat(pages: number): string {
  return `(module
  (memory ${pages})
  (func (export "write") (param $pages i32) (param $spin i32)
    (local $addr i32) (local $end i32) (local $x i64) (local $j i32)
${FILL_MEMORY_WAT}    (local.set $addr (i32.const 0))
    (loop $write
      (local.set $x (i64.add (local.get $x) (i64.const 1)))
      (i64.store (local.get $addr) (local.get $x))
      ;; the next page, 8 bytes further in, wrapping around the end
      (local.set $addr (i32.add (local.get $addr) (i32.const 65544)))
      (if (i32.ge_u (local.get $addr) (i32.sub (local.get $end) (i32.const 8)))
        (then (local.set $addr (i32.and (i32.sub (local.get $addr) (local.get $end)) (i32.const 0xFFF8)))))
      (local.set $j (i32.const 0))
      (loop $spin (local.set $j (i32.add (local.get $j) (i32.const 1))) (br_if $spin (i32.lt_u (local.get $j) (local.get $spin))))
      (br $write)))
)`;
}

export async function benchPrecopy(runs: number, warmup: number): Promise<{ rows: PrecopyRow[] }> {
  let marks = new Map<TransferMark, number>();
  let rounds = 0;
  let watching = "";
  const pair: NodePair = await startPair({ a: { maxRounds: 1 }, b: {} }, (mark, jobId) => {
    if (jobId !== watching) return;
    if (mark === "source:precopied") rounds++;
    if (!marks.has(mark)) marks.set(mark, nowMs());
  });
  try {
    const pages = (MEMORY_MIB * MIB) / PAGE_BYTES;
    const bytes = watToWasm(writerWat(pages));
    const codeHash = (await pair.clientA.uploadModule(bytes)).codeHash;
    await pair.clientB.uploadModule(bytes);
    const fillFuel = FILL_FUEL_PER_WORD * ((MEMORY_MIB * MIB) / 8);
    const prepared = new Map<string, number[]>();
    const sent = new Map<string, number[]>();
    const sample = (variant: string, from: "A" | "B") => async (): Promise<number> => {
      const [target, fromClient, toClient] = from === "A" ? [pair.b, pair.clientA, pair.clientB] : [pair.a, pair.clientB, pair.clientA];
      const job = await fromClient.startJob({ codeHash, entry: "write", args: [pages, SPIN_PER_WRITE], sandbox: "in-process" });
      await until(async () => (await fromClient.job(job.id)).fuelUsed > fillFuel, `job ${job.id} to fill`, 30_000);
      await new Promise((r) => setTimeout(r, 100)); // writing steadily
      marks = new Map();
      rounds = 0;
      watching = job.id;
      await fromClient.migrate(job.id, target.identity.nodeId);
      watching = "";
      const downtime = marks.get("target:running")! - marks.get("source:stopped")!;
      const checkpoint = target.store.checkpoints.latest(job.id);
      if (!checkpoint || !checkpointSnapshot(target.store, job.id)) throw new Error(`${variant}: the target holds no snapshot`);
      prepared.get(variant)!.push(checkpoint.size);
      sent.get(variant)!.push(rounds);
      await toClient.cancel(job.id);
      return downtime;
    };
    const variants = [
      { name: "single copy (maxRounds 1)", sample: sample("single copy (maxRounds 1)", "A") },
      { name: "iterative (default: ≤ 4 rounds)", sample: sample("iterative (default: ≤ 4 rounds)", "B") },
    ];
    for (const v of variants) {
      prepared.set(v.name, []);
      sent.set(v.name, []);
    }
    const samples = await interleave(variants, { warmup, runs });
    const rows: PrecopyRow[] = variants.map((v) => {
      // The byte and round lists include the warm-up samples: keep the same last `runs`.
      const keep = (xs: number[]) => xs.slice(-runs);
      return {
        variant: v.name,
        downtimeMs: median(samples.get(v.name)!),
        prepareBytes: median(keep(prepared.get(v.name)!)),
        rounds: median(keep(sent.get(v.name)!)),
        samples: { downtime: samples.get(v.name)!, prepareBytes: keep(prepared.get(v.name)!), rounds: keep(sent.get(v.name)!) },
      };
    });
    const single = rows[0]!.downtimeMs;
    const range = (xs: number[], f: (x: number) => string): string => `${f(Math.min(...xs))} – ${f(Math.max(...xs))}`;
    printTable({
      title: `Pre-copy rounds for a ${MEMORY_MIB} MiB guest that keeps rewriting its memory (median of ${runs} migrations each, interleaved)`,
      headers: ["variant", "pre-copy rounds sent", "PREPARE body", "(min – max)", "downtime ms", "(min – max)", "× single copy"],
      rows: rows.map((r) => [
        r.variant,
        String(r.rounds),
        fmtBytes(r.prepareBytes),
        range(r.samples.prepareBytes, fmtBytes),
        fmtMs(r.downtimeMs),
        range(r.samples.downtime, fmtMs),
        fmtRatio(r.downtimeMs / single),
      ]),
      notes: [
        `The guest fills ${MEMORY_MIB} MiB, then writes one word in each page in turn, ${SPIN_PER_WRITE.toLocaleString("en-US")} loop iterations apart, forever. Downtime: source paused → target running (node-side marks).`,
        "A single copy leaves every page dirtied while it travels to the stop; later rounds send those pages while the job runs, each round shorter than the last, until the delta is small (≤ 256 KiB) or stops halving.",
        "Both nodes run in this process, on one thread: the target's synchronous work on a round (decode, write and fsync the base) also holds the job up, so how much it dirties while a copy travels varies from one migration to the next (the ranges): the medians compare the variants only roughly. The exact behaviour is tested in tests/server/migration.test.ts.",
      ],
    });
    return { rows };
  } finally {
    await pair.close();
  }
}
