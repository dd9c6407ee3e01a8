// Snapshot bandwidth with a page table of digests (issue 13 section 5): format version 4 hashes each
// 64 KiB page on its own, so a snapshot taken on a base hashes only what changed, and a full encode
// spreads its hashing over threads. Every row is measured interleaved in one run:
//   - one single-threaded sha256 pass over 64 MiB (what versions 1..3 pay on top of the copy);
//   - full 64 MiB encodes: version 1 (today's default), version 4 on one thread, version 4 with the
//     pages hashed on the pool, contiguous (encodeSnapshotParallel) and as parts (digestPages +
//     encodeSnapshotParts: raw pages referred to, not copied);
//   - 64 MiB with 1 MiB changed since the previous snapshot (applyDelta on a base whose pages carry
//     their digests), against 1 MiB alone, both as parts and contiguous;
//   - decodes of 64 MiB: version 1, version 4 on one thread and on the pool.
// Pages are pseudo-random (incompressible) and encoded with compression "none": the rows measure
// hashing and copying, not zlib.

import { createHash } from "node:crypto";
import { availableParallelism } from "node:os";
import {
  applyDelta,
  decodeSnapshot,
  decodeSnapshotParallel,
  digestPages,
  encodeSnapshot,
  encodeSnapshotParallel,
  encodeSnapshotParts,
  PageHashPool,
  WASM_PAGE_BYTES,
  type MemoryPage,
  type Snapshot,
} from "../runtime/index.js";
import {
  check,
  fmtGbs,
  fmtRatio,
  gbPerSecond,
  interleave,
  medians,
  nowMs,
  printTable,
  settleGarbage,
  type TargetCheck,
} from "./harness.js";

export interface PageDigestBenchOptions {
  /** Kept rounds (default 9). */
  runs?: number;
}

/** FERRY_BENCH_ONLY name. */
export const PAGE_DIGEST_PARTS = ["page-digest"] as const;

/** Issue 13 #5: a 64 MiB snapshot with 1 MiB changed encodes within this factor of 1 MiB alone. */
export const TARGET_CHANGED_VS_ALONE = 3;
/** Issue 13 #5: a full 64 MiB encode runs at least this many times one sha256 pass's throughput. */
export const TARGET_FULL_VS_SHA256 = 1.5;

const FULL_PAGES = 1024; // 64 MiB
const CHANGED_PAGES = 16; // 1 MiB

export interface PageDigestRow {
  case: string;
  ms: number;
  /** CPU of the process over the sample (all threads), median. */
  cpuMs: number;
  gbPerSecond: number;
}

export interface PageDigestBenchResult {
  rows: PageDigestRow[];
  poolWorkers: number;
  availableParallelism: number;
  changedVsAlone: number;
  changedVsAloneContiguous: number;
  fullVsSha256: number;
  fullVsSha256Contiguous: number;
  targets: TargetCheck[];
  durationMs: number;
}

function randomPage(seed: number): Uint8Array {
  const bytes = new Uint8Array(WASM_PAGE_BYTES);
  const words = new Uint32Array(bytes.buffer);
  let x = (seed * 2654435761) | 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return bytes;
}

function snapshotOf(pages: MemoryPage[]): Snapshot {
  return {
    codeHash: "ab".repeat(32),
    pipelineVersion: 1,
    continuation: new Uint8Array(64),
    globals: [{ index: 0, type: "i32", value: 1 }],
    memory: { pageCount: FULL_PAGES, pages },
    input: new Uint8Array(0),
    output: new Uint8Array(0),
  };
}

/** Fresh page objects (no digests) over the same bytes: what a full capture hands the encoder. */
const fresh = (pages: MemoryPage[]): MemoryPage[] => pages.map((p) => ({ index: p.index, bytes: p.bytes }));

/** `CHANGED_PAGES` newly written pages spread over the memory, each a new array (so nothing is hashed yet). */
let generation = 0;
function changedPages(): MemoryPage[] {
  generation++;
  const step = FULL_PAGES / CHANGED_PAGES;
  return Array.from({ length: CHANGED_PAGES }, (_, i) => ({ index: i * step + 3, bytes: randomPage(generation * 1000 + i) }));
}

const NONE = { compression: "none" as const };

export async function runPageDigestBench(options: PageDigestBenchOptions = {}): Promise<PageDigestBenchResult> {
  const started = nowMs();
  const runs = options.runs ?? 9;
  const pool = new PageHashPool();
  const full = Array.from({ length: FULL_PAGES }, (_, index) => ({ index, bytes: randomPage(index + 1) }));
  const flat = Buffer.concat(full.map((p) => p.bytes));
  const base = snapshotOf(fresh(full));
  encodeSnapshotParts(base, NONE); // the previous snapshot: its pages now carry their digests
  const v1 = encodeSnapshot(snapshotOf(full), NONE);
  const v4 = encodeSnapshot(snapshotOf(fresh(full)), { ...NONE, pageTable: true });
  let sink = 0;
  // Earlier samples drop 64 MiB outputs; their buffers are freed after a GC, between turns of the
  // event loop — settled before the clock starts, so no sample pays another's frees.
  // CPU of the whole process (every thread, the pool's included) beside the wall clock: on a shared
  // machine it shows whether the threads ran at once or took turns.
  const cpu = new Map<string, number[]>();
  let current = "";
  const time = async (f: () => unknown): Promise<number> => {
    await settleGarbage();
    const c0 = process.cpuUsage();
    const t0 = nowMs();
    await f();
    const ms = nowMs() - t0;
    const c = process.cpuUsage(c0);
    const list = cpu.get(current) ?? [];
    list.push((c.user + c.system) / 1000);
    cpu.set(current, list);
    return ms;
  };
  const onBase = () => applyDelta(base, { ...base, memory: { pageCount: FULL_PAGES, pages: changedPages() } });
  const alone = () => snapshotOf(changedPages());
  const variants: Array<{ name: string; sample: () => Promise<number> }> = [
    { name: "sha256, one pass, 1 thread", sample: () => time(() => (sink += createHash("sha256").update(flat).digest()[0]!)) },
    {
      name: "full: v1 encode (one copy + one sha256)",
      sample: () => time(() => (sink += encodeSnapshot(snapshotOf(full), NONE).byteLength)),
    },
    {
      name: "full: v4 encode, 1 thread",
      sample: () => {
        const s = snapshotOf(fresh(full));
        return time(() => (sink += encodeSnapshot(s, { ...NONE, pageTable: true }).byteLength));
      },
    },
    {
      name: "full: v4 encode, pool",
      sample: () => {
        const s = snapshotOf(fresh(full));
        return time(async () => (sink += (await encodeSnapshotParallel(s, NONE, pool)).byteLength));
      },
    },
    {
      name: "full: v4 parts, 1 thread",
      sample: () => {
        const s = snapshotOf(fresh(full));
        return time(() => (sink += encodeSnapshotParts(s, NONE).length));
      },
    },
    {
      name: "full: v4 parts, pool",
      sample: () => {
        const s = snapshotOf(fresh(full));
        return time(async () => {
          await digestPages(s.memory.pages, pool);
          sink += encodeSnapshotParts(s, NONE).length;
        });
      },
    },
    ...deltaVariants(onBase, alone, (n) => (sink += n), time),
    { name: "decode 64 MiB: v1", sample: () => time(() => (sink += decodeSnapshot(v1).memory.pages.length)) },
    { name: "decode 64 MiB: v4, 1 thread", sample: () => time(() => (sink += decodeSnapshot(v4).memory.pages.length)) },
    {
      name: "decode 64 MiB: v4, pool",
      sample: () => time(async () => (sink += (await decodeSnapshotParallel(v4, {}, pool)).memory.pages.length)),
    },
  ];
  const named = variants.map((v) => ({
    name: v.name,
    sample: () => {
      current = v.name;
      return v.sample();
    },
  }));
  const m = medians(await interleave(named, { warmup: 2, runs }));
  await pool.close();
  if (sink === 0.5) process.stdout.write(""); // keep the results alive
  return report(m, medians(cpu), pool.size, runs, nowMs() - started);
}

/** The 1 MiB rows: on a 64 MiB base and alone, as parts and contiguous; the snapshot is built outside the timing. */
function deltaVariants(
  onBase: () => Snapshot,
  alone: () => Snapshot,
  use: (n: number) => void,
  time: (f: () => unknown) => Promise<number>,
): Array<{ name: string; sample: () => Promise<number> }> {
  const parts = (make: () => Snapshot) => () => {
    const s = make();
    return time(() => use(encodeSnapshotParts(s, NONE).length));
  };
  const whole = (make: () => Snapshot) => () => {
    const s = make();
    return time(() => use(encodeSnapshot(s, { ...NONE, pageTable: true }).byteLength));
  };
  return [
    { name: "64 MiB, 1 MiB changed: v4 parts", sample: parts(onBase) },
    { name: "1 MiB alone: v4 parts", sample: parts(alone) },
    { name: "64 MiB, 1 MiB changed: v4 contiguous", sample: whole(onBase) },
    { name: "1 MiB alone: v4 contiguous", sample: whole(alone) },
  ];
}

function report(
  m: Record<string, number>,
  cpu: Record<string, number>,
  poolWorkers: number,
  runs: number,
  durationMs: number,
): PageDigestBenchResult {
  const bytesOf = (name: string) => (name.startsWith("1 MiB") ? CHANGED_PAGES : FULL_PAGES) * WASM_PAGE_BYTES;
  const rows = Object.entries(m).map(([name, ms]) => ({ case: name, ms, cpuMs: cpu[name]!, gbPerSecond: gbPerSecond(bytesOf(name), ms) }));
  const sha = m["sha256, one pass, 1 thread"]!;
  const fullVsSha256 = sha / m["full: v4 parts, pool"]!;
  const fullVsSha256Contiguous = sha / m["full: v4 encode, pool"]!;
  const changedVsAlone = m["64 MiB, 1 MiB changed: v4 parts"]! / m["1 MiB alone: v4 parts"]!;
  const changedVsAloneContiguous = m["64 MiB, 1 MiB changed: v4 contiguous"]! / m["1 MiB alone: v4 contiguous"]!;
  printTable({
    title: "Snapshot bandwidth with page digests (format version 4)",
    headers: ["case", "ms", "CPU ms", "GB/s", "× sha256 pass"],
    rows: rows.map((r) => [
      r.case,
      r.ms.toFixed(2),
      r.cpuMs.toFixed(1),
      fmtGbs(r.gbPerSecond),
      r.case.startsWith("1 MiB") ? "" : fmtRatio(sha / r.ms),
    ]),
    align: ["left", "right", "right", "right", "right"],
    notes: [
      `Median of ${runs} interleaved rounds (bench/page-digest.ts); CPU ms: the process's user + system time over the sample, every thread; ${FULL_PAGES} incompressible pages, compression "none"; pool of ${poolWorkers} worker(s) plus the calling thread (availableParallelism ${availableParallelism()}).`,
      `64 MiB with 1 MiB changed ÷ 1 MiB alone: ${fmtRatio(changedVsAlone)} as parts, ${fmtRatio(changedVsAloneContiguous)} contiguous (a contiguous buffer copies all 64 MiB). Full encode (pool) ÷ sha256 pass, throughput: ${fmtRatio(fullVsSha256)} as parts, ${fmtRatio(fullVsSha256Contiguous)} contiguous.`,
    ],
  });
  return {
    rows,
    poolWorkers,
    availableParallelism: availableParallelism(),
    changedVsAlone,
    changedVsAloneContiguous,
    fullVsSha256,
    fullVsSha256Contiguous,
    targets: [
      check("page digests: 64 MiB with 1 MiB changed ÷ 1 MiB alone (encode, parts)", changedVsAlone, "<=", TARGET_CHANGED_VS_ALONE, "×"),
      check("page digests: full 64 MiB encode (pool, parts) ÷ one sha256 pass, throughput", fullVsSha256, ">=", TARGET_FULL_VS_SHA256, "×"),
    ],
    durationMs,
  };
}
