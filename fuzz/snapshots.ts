// Target "snapshots": real snapshots of the example guests, mutated structure-aware
// (fuzz/snapshot-mutate.ts), through decode → restore → run. Acceptable: a typed FerryError from
// decode or restore, or a run that ends in a result or a typed trap (or is still going when its
// fuel runs out). Never: another exception, an untyped trap, a host error from inside the runtime,
// a memory blow-up. Unmutated controls must finish with the guest's known value.

import { readFileSync } from "node:fs";
import { smallCases, type ExampleCase } from "../guest/catalog.js";
import {
  Engine,
  FerryError,
  TRAP_CODES,
  decodeSnapshot,
  encodeSnapshot,
  type GuestModule,
  type Instance,
  type RunResult,
  type Snapshot,
  type SnapshotCompression,
} from "../runtime/index.js";
import { CaseFailure, count, describeError, progress, fromBase64, toBase64, type CaseOutcome } from "./case.js";
import { caseRng } from "./rng.js";
import { drawMutations, mutate, type Mutation } from "./snapshot-mutate.js";

/** The fuzzing engine's memory cap (16 MiB): decoding refuses larger memories before inflating them. */
export const SNAPSHOT_FUZZ_MAX_PAGES = 256;
/** Resident-memory growth in one case past which it counts as a host-memory blow-up (the cap allows 16 MiB of guest memory). */
const RSS_GROWTH_LIMIT_BYTES = 512 * 1024 ** 2;

export interface SnapshotCase {
  target: "snapshots";
  seed: number;
  index: number;
  /** The example case (guest/catalog.ts smallCases) whose run is snapshotted. */
  guest: string;
  slice: number;
  /** Pauses before the snapshot is taken. */
  pauses: number;
  compression: SnapshotCompression;
  /** Format version 4 (page table of digests, seal); absent in older case files: false. */
  pageTable?: boolean;
  embedCode: boolean;
  mutations: Mutation[];
  reseal: boolean;
  /** Restore from the bytes, or from what decodeSnapshot returned. */
  via: "bytes" | "decoded";
  /** Fuel per resume and the most resumes before the run counts as still going. */
  resumeSlice: number;
  maxResumes: number;
  /** The mutated bytes, kept in failure files so a replay does not depend on today's runtime. */
  bytes?: string;
}

interface Base {
  example: ExampleCase;
  module: GuestModule;
  wasm: Uint8Array;
}

let engine: Engine | undefined;
const bases = new Map<string, Base>();

/** One engine and the example modules, compiled once per process. */
async function setup(): Promise<{ engine: Engine; bases: Map<string, Base> }> {
  if (!engine) {
    engine = new Engine({ maxMemoryPages: SNAPSHOT_FUZZ_MAX_PAGES });
    for (const example of smallCases()) {
      const wasm = new Uint8Array(readFileSync(example.wasmPath));
      bases.set(example.name, { example, module: await engine.compile(wasm), wasm });
    }
  }
  return { engine, bases };
}

/** Base snapshots by their parameters: many cases mutate the same one. */
const baseCache = new Map<string, Uint8Array>();

async function baseSnapshot(spec: SnapshotCase): Promise<{ bytes: Uint8Array }> {
  const key = `${spec.guest}/${spec.slice}/${spec.pauses}/${spec.compression}/${spec.embedCode}/${spec.pageTable === true}`;
  const cached = baseCache.get(key);
  if (cached) return { bytes: cached };
  const bytes = await takeBaseSnapshot(spec);
  if (baseCache.size > 500) baseCache.clear();
  baseCache.set(key, bytes);
  return { bytes };
}

async function takeBaseSnapshot(spec: SnapshotCase): Promise<Uint8Array> {
  const { engine, bases } = await setup();
  const base = bases.get(spec.guest);
  if (!base) throw new CaseFailure("harness", `no example case ${spec.guest}`);
  const e = base.example;
  const instance = await engine.instantiate(base.module, e.input ? { input: e.input } : {});
  // The snapshot at pause `pauses`, or at the last pause if the run ends sooner.
  let r = await instance.run(e.entry, e.args, { fuel: spec.slice });
  let snapshot = r.status === "paused" ? await instance.snapshot() : undefined;
  for (let k = 1; k < spec.pauses && r.status === "paused"; k++) {
    r = await instance.resume({ fuel: spec.slice });
    if (r.status === "paused") snapshot = await instance.snapshot();
  }
  instance.dispose();
  if (!snapshot) throw new CaseFailure("harness", `${e.name} finished within one ${spec.slice}-fuel slice`);
  return encodeSnapshot(spec.embedCode ? { ...snapshot, code: base.wasm } : snapshot, {
    compression: spec.compression,
    pageTable: spec.pageTable === true,
  });
}

export async function generateSnapshotCase(seed: number, index: number): Promise<SnapshotCase> {
  const rng = caseRng(seed, "snapshots", index);
  const { bases } = await setup();
  const guest = rng.pick([...bases.keys()]);
  const spec: SnapshotCase = {
    target: "snapshots",
    seed,
    index,
    guest,
    slice: rng.pick([1, 7, 50, 300]),
    pauses: rng.range(1, 3),
    compression: rng.pick(["auto", "none", "deflate"] as const),
    embedCode: rng.chance(0.3),
    mutations: [],
    reseal: rng.chance(0.85),
    via: rng.chance(0.5) ? "bytes" : "decoded",
    resumeSlice: rng.pick([100, 10_000, 200_000]),
    maxResumes: 8,
    pageTable: rng.chance(0.5),
  };
  // One case in 20 is an unmutated control: it must finish with the guest's known value.
  if (!rng.chance(0.05)) {
    const { bytes } = await baseSnapshot(spec);
    spec.mutations = drawMutations(rng.fork("mutations"), bytes);
  }
  return spec;
}

/** The bytes a case restores: stored ones (a replay), or the base snapshot with the mutations applied. */
export async function snapshotCaseBytes(spec: SnapshotCase): Promise<Uint8Array> {
  if (spec.bytes !== undefined) return fromBase64(spec.bytes);
  const { bytes } = await baseSnapshot(spec);
  return spec.mutations.length === 0 && spec.reseal ? bytes : mutate(bytes, spec.mutations, spec.reseal);
}

export async function runSnapshotCase(spec: SnapshotCase): Promise<CaseOutcome> {
  const counters: Record<string, number> = {};
  try {
    const bytes = await snapshotCaseBytes(spec);
    // Growth during this case's decode/restore/run, not the process's total (caches and earlier cases).
    const before = process.memoryUsage().rss;
    await check(spec, bytes, counters);
    const grown = process.memoryUsage().rss - before;
    if (grown > RSS_GROWTH_LIMIT_BYTES)
      throw new CaseFailure("memory", `resident memory grew by ${(grown / 1024 ** 2).toFixed(0)} MiB in one case`);
    return { status: "ok", counters };
  } catch (e) {
    if (e instanceof CaseFailure) return { status: "failed", failure: { kind: e.kind, detail: e.detail }, counters };
    return { status: "failed", failure: { kind: "exception", detail: describeError(e) }, counters };
  }
}

/** A FerryError is an acceptable refusal; anything else thrown by the runtime is a failure. */
function typed(stage: string, e: unknown, counters: Record<string, number>): void {
  if (!(e instanceof FerryError)) throw new CaseFailure(`untyped-${stage}`, describeError(e));
  if (/\[object \w+\]/.test(e.message)) throw new CaseFailure("bad-error-message", `${stage}: ${e.code}: ${e.message}`);
  count(counters, `${stage}: ${e.code}`);
}

async function check(spec: SnapshotCase, bytes: Uint8Array, counters: Record<string, number>): Promise<void> {
  const { engine, bases } = await setup();
  const control = spec.mutations.length === 0 && spec.reseal;
  let decoded: Snapshot;
  progress(`snapshots ${spec.index}: decode`);
  try {
    decoded = decodeSnapshot(bytes, { maxMemoryPages: SNAPSHOT_FUZZ_MAX_PAGES });
  } catch (e) {
    if (control) throw new CaseFailure("control", `an unmutated snapshot failed to decode: ${describeError(e)}`);
    return typed("decode", e, counters);
  }
  let instance: Instance;
  progress(`snapshots ${spec.index}: restore`);
  try {
    // Restoring into a fresh engine makes the embedded module (if any) the one that is compiled.
    const target = spec.embedCode && spec.index % 10 === 1 ? new Engine({ maxMemoryPages: SNAPSHOT_FUZZ_MAX_PAGES }) : engine;
    instance = await target.restore(spec.via === "bytes" ? bytes : decoded);
  } catch (e) {
    if (control) throw new CaseFailure("control", `an unmutated snapshot failed to restore: ${describeError(e)}`);
    return typed("restore", e, counters);
  }
  let r: RunResult;
  let resumes = 0;
  try {
    do {
      progress(`snapshots ${spec.index}: resume ${resumes}`);
      r = await instance.resume({ fuel: spec.resumeSlice });
    } while (r.status === "paused" && ++resumes < spec.maxResumes);
  } catch (e) {
    return typed("resume", e, counters);
  } finally {
    instance.dispose();
  }
  if (r.status === "trapped") {
    if (!TRAP_CODES.includes(r.code)) throw new CaseFailure("untyped-trap", `${r.code}: ${r.message}`);
    if (
      r.code === "host_error" &&
      /TypeError|RangeError|ReferenceError|SyntaxError|is not a function|Cannot read|undefined/.test(r.message)
    ) {
      throw new CaseFailure("host-error-from-runtime", r.message);
    }
    if (control) throw new CaseFailure("control", `an unmutated snapshot trapped: ${r.code}: ${r.message}`);
    count(counters, `trapped: ${r.code}`);
    return;
  }
  if (r.status === "paused") {
    count(counters, "still running when its fuel ran out");
    return;
  }
  count(counters, "ran to the end");
  const expected = bases.get(spec.guest)!.example.expected.value;
  if (control && !Object.is(r.value, expected))
    throw new CaseFailure("control", `${spec.guest}: resumed to ${String(r.value)}, expected ${expected}`);
}

/** Smaller variants of a failing case: fewer mutations, then plainer settings. */
export function shrinkSnapshotCase(spec: SnapshotCase): SnapshotCase[] {
  const out: SnapshotCase[] = [];
  const { bytes: _stored, ...rest } = spec;
  for (let i = 0; i < spec.mutations.length && spec.mutations.length > 1; i++)
    out.push({ ...rest, mutations: spec.mutations.filter((_, k) => k !== i) });
  if (spec.embedCode) out.push({ ...rest, embedCode: false });
  if (spec.compression !== "none") out.push({ ...rest, compression: "none" });
  if (spec.pageTable) out.push({ ...rest, pageTable: false });
  if (spec.pauses > 1) out.push({ ...rest, pauses: 1 });
  return out;
}

/** The case with its final bytes attached, for the failure file. */
export async function withBytes(spec: SnapshotCase): Promise<SnapshotCase> {
  return { ...spec, bytes: toBase64(await snapshotCaseBytes(spec)) };
}
