// Pause cost (issue 10 #10): what one transparent pause costs a guest without a continuation struct
// of its own (the runtime's struct lives in pages reserved ahead of its memory) against an SDK
// guest (exporting `ferry_continuation`). The same computation — a recursion 9 frames deep, each
// frame a loop over 32 KiB of memory — is compiled once with the export and once without; each is
// run straight (never paused) and sliced into ~TARGET_PAUSES pauses, the variants interleaved.
// µs per pause = (median sliced − median straight) ÷ pauses. Target: the guest without the struct
// within 2× of the SDK guest.

import { Engine, type Instance } from "../runtime/index.js";
import { check, fmtRatio, fmtInt, interleave, medians, nowMs, printTable, watToWasm, type TargetCheck } from "./harness.js";

export interface PauseCostBenchOptions {
  /** Kept rounds (default 9). */
  runs?: number;
}

/** FERRY_BENCH_ONLY name. */
export const PAUSE_COST_PARTS = ["pause-cost"] as const;

/** Issue 10 #10: a guest without its own struct pauses within this factor of an SDK guest. */
export const TARGET_PAUSE_RATIO = 2;
const TARGET_PAUSES = 10_000;
const OUTER_ROUNDS = 40;

/** The SDK's struct at 1024: magic "FRRY", ABI 1, header 96 bytes, a 64 KiB stack buffer (offset 24). */
const STRUCT = `(global (export "ferry_continuation") i32 (i32.const 1024))
  (data (i32.const 1024) "\\46\\52\\52\\59\\01\\00\\60\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\01\\00")`;

function guest(withStruct: boolean): Uint8Array {
  return watToWasm(`(module (memory 16) ${withStruct ? STRUCT : ""}
  (func $work (param $d i32) (result i64) (local $i i32) (local $acc i64)
    (if (local.get $d) (then (local.set $acc (call $work (i32.sub (local.get $d) (i32.const 1))))))
    (loop $l
      (i64.store (i32.add (i32.const 131072) (i32.shl (i32.and (local.get $i) (i32.const 4095)) (i32.const 3)))
        (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
      (local.set $acc (i64.add (local.get $acc)
        (i64.load (i32.add (i32.const 131072) (i32.shl (i32.and (i32.mul (local.get $i) (i32.const 7)) (i32.const 4095)) (i32.const 3))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 2000))))
    (local.get $acc))
  (func (export "run") (result i64) (local $k i32) (local $acc i64)
    (loop $outer
      (local.set $acc (i64.add (local.get $acc) (call $work (i32.const 8))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $k) (i32.const ${OUTER_ROUNDS}))))
    (local.get $acc)))`);
}

export interface PauseCostRow {
  guest: "without struct" | "SDK";
  straightMs: number;
  slicedMs: number;
  pauses: number;
  usPerPause: number;
}

export interface PauseCostBenchResult {
  rows: PauseCostRow[];
  /** µs per pause without the struct ÷ with it. */
  ratio: number;
  sliceFuel: number;
  targets: TargetCheck[];
  durationMs: number;
}

export async function runPauseCostBench(options: PauseCostBenchOptions = {}): Promise<PauseCostBenchResult> {
  const started = nowMs();
  const runs = options.runs ?? 9;
  const engine = new Engine();
  const kinds = [
    { guest: "without struct" as const, module: await engine.compile(guest(false)) },
    { guest: "SDK" as const, module: await engine.compile(guest(true)) },
  ];
  if (kinds[0]!.module.segment.hasContinuation || !kinds[1]!.module.segment.hasContinuation)
    throw new Error("pause-cost: the two guests are not what they claim");

  const probe = await (await engine.instantiate(kinds[0]!.module)).run("run");
  if (probe.status !== "done") throw new Error(`pause-cost probe: ${JSON.stringify(probe)}`);
  const sliceFuel = Math.ceil(probe.fuelUsed / TARGET_PAUSES);
  const pauses = new Map<string, number>();

  const timed = async (name: string, module: (typeof kinds)[number]["module"], fuel?: number): Promise<number> => {
    const instance: Instance = await engine.instantiate(module);
    const slice = fuel === undefined ? {} : { fuel };
    let n = 0;
    const t0 = nowMs();
    let r = await instance.run("run", [], slice);
    while (r.status === "paused") {
      n++;
      r = await instance.resume(slice);
    }
    const ms = nowMs() - t0;
    if (r.status !== "done" || r.value !== probe.value)
      throw new Error(`pause-cost ${name}: ${JSON.stringify(r, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
    if (fuel !== undefined) pauses.set(name, n);
    instance.dispose();
    return ms;
  };

  const samples = await interleave(
    kinds.flatMap((k) => [
      { name: `${k.guest} straight`, sample: () => timed(`${k.guest} straight`, k.module) },
      { name: `${k.guest} sliced`, sample: () => timed(`${k.guest} sliced`, k.module, sliceFuel) },
    ]),
    { warmup: 2, runs },
  );
  const m = medians(samples);
  const rows: PauseCostRow[] = kinds.map((k) => {
    const straightMs = m[`${k.guest} straight`]!;
    const slicedMs = m[`${k.guest} sliced`]!;
    const n = pauses.get(`${k.guest} sliced`)!;
    return { guest: k.guest, straightMs, slicedMs, pauses: n, usPerPause: ((slicedMs - straightMs) * 1000) / n };
  });
  const ratio = rows[0]!.usPerPause / rows[1]!.usPerPause;
  printTable({
    title: "Pause cost: guest without struct vs SDK guest",
    headers: ["guest", "straight ms", "sliced ms", "pauses", "µs per pause"],
    rows: [
      ...rows.map((r) => [r.guest, r.straightMs.toFixed(2), r.slicedMs.toFixed(2), fmtInt(r.pauses), r.usPerPause.toFixed(2)]),
      ["**ratio**", "", "", "", `**${fmtRatio(ratio)}**`],
    ],
    notes: [
      `The same computation (bench/pause-cost.ts) with and without a \`ferry_continuation\` export, \`new Engine()\`, sliced every ${fmtInt(sliceFuel)} fuel; µs per pause = (median sliced − median straight) ÷ pauses, median of ${runs} interleaved rounds. Target: ≤ ${TARGET_PAUSE_RATIO}× the SDK guest.`,
    ],
  });
  await engine.close();
  return {
    rows,
    ratio,
    sliceFuel,
    targets: [check("pause cost: guest without struct vs SDK guest", ratio, "<=", TARGET_PAUSE_RATIO, "×")],
    durationMs: nowMs() - started,
  };
}
