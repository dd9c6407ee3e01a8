// Global references (docs/resource-segment.md): what a directory at another node costs against the
// same directory used locally. One 16 MiB file read in 1 MiB reads, one written in 1 MiB writes (open,
// the 16 calls, close), and one small call (stat) alone, through three ways, interleaved in one run:
//  - HostDirectory: synchronous, on this thread (what an in-process job's directory is);
//  - OffThreadDirectory: the same kind of tree served in a resource worker thread (a node's jobs);
//  - PeerDirectory: a global reference from a node in this process (B) to a pin at a home node (A)
//    in another process on 127.0.0.1 (bench/global-ref-home.ts) — each call a signed, numbered POST
//    /peer/resources/:pin that A runs in the pin's own OffThreadDirectory.
// Every read's bytes are compared with the file, every written file is read back from disk and
// compared (outside the timed region). Beside them, in the same rounds, what a call's crypto costs
// on its own: the body's sha256 and an Ed25519 signature and verification.

import { type ChildProcess, fork } from "node:child_process";
import { createHash, randomBytes, sign, verify } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type AsyncDirectory, type Directory, HostDirectory, OffThreadDirectory, ResourceThread } from "../runtime/index.js";
import { generateSigningKey, parsePublicKey } from "../server/auth/index.js";
import { type RunningNode, startNode } from "../server/node-server.js";
import type { HomePinned, HomeReady, HomeSetup } from "./global-ref-home.js";
import { interleave, medians, nowMs, printTable, type TargetCheck } from "./harness.js";

export interface GlobalRefBenchOptions {
  /** Kept rounds (default 7). */
  runs?: number;
  /** Discarded rounds before them (default 1). */
  warmup?: number;
}

/** FERRY_BENCH_ONLY name. */
export const GLOBAL_REF_PARTS = ["global-ref"] as const;

const MiB = 1 << 20;
const FILE_BYTES = 16 * MiB;
const CALL_BYTES = MiB;
const CALLS = FILE_BYTES / CALL_BYTES;
/** Stats per sample (the per-call latency is the sample ÷ this). */
const STAT_CALLS = 40;
/** Crypto operations per sample. */
const CRYPTO_OPS = 16;
const IN = "in.bin";
const OUT = "out.bin";

type Tree = Directory | AsyncDirectory;

interface Way {
  key: "host" | "offThread" | "peer";
  label: string;
  dir: Tree;
  /** Where the way's files are on disk (to check what it wrote). */
  path: string;
}

export interface GlobalRefRow {
  way: Way["key"];
  label: string;
  readMs: number;
  writeMs: number;
  readMiBs: number;
  writeMiBs: number;
  statUs: number;
}

export interface GlobalRefBenchResult {
  config: { fileBytes: number; callBytes: number; statCalls: number; runs: number; warmup: number };
  rows: GlobalRefRow[];
  /** Global reference ÷ each local way: read and write throughput (MiB/s ÷ MiB/s), stat latency (µs ÷ µs). */
  ratios: Record<"host" | "offThread", { read: number; write: number; stat: number }>;
  /** What one call's crypto costs alone, µs (median per operation). */
  costsUs: { sha256OneMiB: number; ed25519Sign: number; ed25519Verify: number };
  targets: TargetCheck[];
  durationMs: number;
}

async function readSample(way: Way, into: Uint8Array, data: Uint8Array): Promise<number> {
  into.fill(0);
  const t0 = nowMs();
  const file = await way.dir.openFile(IN, {});
  let pos = 0;
  while (pos < FILE_BYTES) {
    const n = await file.read(into.subarray(pos, pos + CALL_BYTES), pos);
    if (n === 0) throw new Error(`global-ref ${way.key}: ${IN} ended at ${pos} bytes`);
    pos += n;
  }
  await file.close();
  const ms = nowMs() - t0;
  if (!Buffer.from(into.buffer, into.byteOffset, into.byteLength).equals(data)) throw new Error(`global-ref ${way.key}: read other bytes`);
  return ms;
}

async function writeSample(way: Way, data: Uint8Array): Promise<number> {
  const t0 = nowMs();
  const file = await way.dir.openFile(OUT, { create: true, write: true, truncate: true });
  let pos = 0;
  while (pos < FILE_BYTES) {
    const n = await file.write(data.subarray(pos, pos + CALL_BYTES), pos);
    if (n === 0) throw new Error(`global-ref ${way.key}: a write made no progress at ${pos}`);
    pos += n;
  }
  await file.close();
  const ms = nowMs() - t0;
  if (!readFileSync(join(way.path, OUT)).equals(data)) throw new Error(`global-ref ${way.key}: ${OUT} on disk is not what was written`);
  return ms;
}

/** ms per stat. A synchronous tree is not awaited (an await would add a microtask to a ~µs call). */
async function statSample(way: Way): Promise<number> {
  const t0 = nowMs();
  for (let i = 0; i < STAT_CALLS; i++) {
    const st = way.dir.stat(IN);
    const size = st instanceof Promise ? (await st).size : st.size;
    if (size !== FILE_BYTES) throw new Error(`global-ref ${way.key}: stat says ${size} bytes`);
  }
  return (nowMs() - t0) / STAT_CALLS;
}

/** The home node, in its own process, with `bench` pinned for `b`. */
async function startHome(dataDir: string, b: RunningNode): Promise<{ child: ChildProcess; ready: HomeReady; pinned: HomePinned }> {
  const child = fork(fileURLToPath(new URL("./global-ref-home.js", import.meta.url)), [dataDir], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = <T>(): Promise<T> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`global-ref home node exited (${code}) before answering`));
      child.once("exit", onExit);
      child.once("message", (m: T | { error: string }) => {
        child.off("exit", onExit);
        if (typeof m === "object" && m !== null && "error" in m) reject(new Error(`global-ref home node: ${m.error}`));
        else resolve(m as T);
      });
    });
  try {
    const ready = await next<HomeReady>();
    b.store.peers.upsert({ nodeId: ready.nodeId, url: ready.url, publicKey: parsePublicKey(ready.publicKeyPem) });
    const answer = next<HomePinned>();
    const setup: HomeSetup = { peer: { nodeId: b.identity.nodeId, url: b.url, publicKeyPem: b.identity.publicKeyPem } };
    child.send(setup);
    return { child, ready, pinned: await answer };
  } catch (e) {
    child.kill();
    throw e;
  }
}

/** ms per operation over CRYPTO_OPS of them. */
function perOp(f: () => unknown): () => number {
  return () => {
    const t0 = nowMs();
    for (let i = 0; i < CRYPTO_OPS; i++) f();
    return (nowMs() - t0) / CRYPTO_OPS;
  };
}

export async function runGlobalRefBench(options: GlobalRefBenchOptions = {}): Promise<GlobalRefBenchResult> {
  const started = nowMs();
  const runs = options.runs ?? 7;
  const warmup = options.warmup ?? 1;
  const scratch = mkdtempSync(join(tmpdir(), "ferry-bench-gref-"));
  const thread = new ResourceThread();
  let b: RunningNode | undefined;
  let child: ChildProcess | undefined;
  try {
    const data = new Uint8Array(randomBytes(FILE_BYTES));
    const local = join(scratch, "local");
    mkdirSync(join(local, "host"), { recursive: true });
    mkdirSync(join(local, "off-thread"), { recursive: true });
    for (const d of ["host", "off-thread"]) writeFileSync(join(local, d, IN), data);
    b = await startNode({ dataDir: join(scratch, "b"), checkpointIntervalMs: 0 });
    const home = await startHome(join(scratch, "a"), b);
    child = home.child;
    writeFileSync(join(home.pinned.path, IN), data);
    const ways: Way[] = [
      { key: "host", label: "HostDirectory (sync, this thread)", dir: new HostDirectory(join(local, "host")), path: join(local, "host") },
      {
        key: "offThread",
        label: "OffThreadDirectory (resource worker thread)",
        dir: new OffThreadDirectory(local, "off-thread", {}, thread),
        path: join(local, "off-thread"),
      },
      {
        key: "peer",
        label: "PeerDirectory (global reference, home node in another process)",
        dir: b.node.pins.reference({ home: home.ready.nodeId, pin: home.pinned.pin, access: "rw" }),
        path: home.pinned.path,
      },
    ];
    const into = new Uint8Array(FILE_BYTES);
    const oneMiB = data.subarray(0, CALL_BYTES);
    const key = generateSigningKey();
    // What B signs (sign-request.ts: a canonical string of method, path, ids, nonce and the body's digest).
    const message = Buffer.from(
      `POST\n/peer/resources/${home.pinned.pin}\n${key.clientId}\n${Date.now()}\n${"n".repeat(22)}\n${"d".repeat(64)}`,
    );
    const signature = sign(null, message, key.privateKey);
    const samples = await interleave(
      [
        ...ways.flatMap((w) => [
          { name: `read ${w.key}`, sample: () => readSample(w, into, data) },
          { name: `write ${w.key}`, sample: () => writeSample(w, data) },
          { name: `stat ${w.key}`, sample: () => statSample(w) },
        ]),
        { name: "sha256 1 MiB", sample: perOp(() => createHash("sha256").update(oneMiB).digest()) },
        { name: "ed25519 sign", sample: perOp(() => sign(null, message, key.privateKey)) },
        {
          name: "ed25519 verify",
          sample: perOp(() => {
            if (!verify(null, message, key.publicKey, signature)) throw new Error("global-ref: signature did not verify");
          }),
        },
      ],
      { warmup, runs },
    );
    const m = medians(samples);
    const mibs = (ms: number) => FILE_BYTES / MiB / (ms / 1000);
    const rows: GlobalRefRow[] = ways.map((w) => ({
      way: w.key,
      label: w.label,
      readMs: m[`read ${w.key}`]!,
      writeMs: m[`write ${w.key}`]!,
      readMiBs: mibs(m[`read ${w.key}`]!),
      writeMiBs: mibs(m[`write ${w.key}`]!),
      statUs: m[`stat ${w.key}`]! * 1000,
    }));
    const [host, offThread, peer] = rows as [GlobalRefRow, GlobalRefRow, GlobalRefRow];
    const ratio = (local: GlobalRefRow) => ({
      read: peer.readMiBs / local.readMiBs,
      write: peer.writeMiBs / local.writeMiBs,
      stat: peer.statUs / local.statUs,
    });
    const result: GlobalRefBenchResult = {
      config: { fileBytes: FILE_BYTES, callBytes: CALL_BYTES, statCalls: STAT_CALLS, runs, warmup },
      rows,
      ratios: { host: ratio(host), offThread: ratio(offThread) },
      costsUs: {
        sha256OneMiB: m["sha256 1 MiB"]! * 1000,
        ed25519Sign: m["ed25519 sign"]! * 1000,
        ed25519Verify: m["ed25519 verify"]! * 1000,
      },
      targets: [],
      durationMs: 0,
    };
    printGlobalRefTables(result);
    result.durationMs = nowMs() - started;
    return result;
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      // Disconnected, the home node closes and exits (global-ref-home.ts).
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      if (child.connected) child.disconnect();
      await exited;
    }
    await b?.close();
    await thread.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

const f1 = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
/** Two significant figures below 10 (0.023×, 0.12×, 2.4×), whole numbers above. */
const ratioOf = (x: number) => `${x >= 10 ? x.toFixed(0) : x.toPrecision(2)}×`;

function printGlobalRefTables(r: GlobalRefBenchResult): void {
  const peer = r.rows.find((x) => x.way === "peer")!;
  const { runs, warmup } = r.config;
  const c = r.costsUs;
  const writeCallUs = (peer.writeMs * 1000) / CALLS;
  const readCallUs = (peer.readMs * 1000) / CALLS;
  const writeCryptoUs = 2 * c.sha256OneMiB + c.ed25519Sign + c.ed25519Verify;
  const smallCryptoUs = c.ed25519Sign + c.ed25519Verify;
  const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(0)} %`;
  printTable({
    title: "Global reference vs local directory: a 16 MiB file in 1 MiB calls, and one stat",
    headers: ["way", "read MiB/s", "write MiB/s", "stat µs"],
    rows: [
      ...r.rows.map((x) => [x.label, f1(x.readMiBs), f1(x.writeMiBs), f1(x.statUs)]),
      ...(["host", "offThread"] as const).map((k) => [
        `**global reference ÷ ${k === "host" ? "HostDirectory" : "OffThreadDirectory"}**`,
        ratioOf(r.ratios[k].read),
        ratioOf(r.ratios[k].write),
        ratioOf(r.ratios[k].stat),
      ]),
    ],
    notes: [
      `Medians of ${runs} interleaved rounds after ${warmup} warm-up (bench/global-ref.ts, \`FERRY_BENCH_ONLY=global-ref\`). A read or write sample is open + ${CALLS} calls of 1 MiB + close, timed; the bytes read are compared with the file and the file written is read back from disk and compared, outside the timing. stat µs: one stat of the 16 MiB file, mean of ${STAT_CALLS} in a row. The ratios are throughput ÷ throughput for read and write (below 1: slower) and latency ÷ latency for stat (above 1: slower). The PeerDirectory's home node is another process on 127.0.0.1 (no network in between: loopback is the floor a real link adds its latency and bandwidth to).`,
      `What a global-reference call costs: B numbers the call, hashes its body (sha256) and signs it (Ed25519), POSTs it over a keep-alive loopback connection (node:http); A hashes the body as it reads it, verifies the signature, records the nonce (SQLite), checks the owner's capabilities, claims the call's number (a SQLite update), runs the call in the pin's OffThreadDirectory (a worker-thread hop, the bytes copied each way), keeps the answer for a retry, and answers; B decodes it. Measured alone in the same rounds: sha256 of 1 MiB ${f1(c.sha256OneMiB)} µs, Ed25519 sign ${f1(c.ed25519Sign)} µs, verify ${f1(c.ed25519Verify)} µs. A 1 MiB write call over the global reference takes ${f1(writeCallUs)} µs (open and close spread over the ${CALLS}), of which its crypto (two hashes of 1 MiB, one signature, one verification) is ${pct(writeCryptoUs, writeCallUs)}; a 1 MiB read call ${f1(readCallUs)} µs (its request is small and its answer is not signed: crypto ${pct(smallCryptoUs, readCallUs)}); a stat ${f1(peer.statUs)} µs (crypto ${pct(smallCryptoUs, peer.statUs)}). The rest, not broken down here, is HTTP, copies, the SQLite writes, the worker hop and the two processes' event loops.`,
    ],
  });
}
