// Restore cost against memory held: a paused guest with 16 MiB of its memory touched, holding 16, 64
// or 256 MiB, restored into a fresh instance — against a dense 16 MiB one. A restore writes the
// snapshot's pages and clears the few fresh pages the snapshot does not hold (the data segments'
// pages, which the module names); it never reads the rest of memory, so it should cost the touched
// pages, not the memory's size (issue 13, section 2: 256 MiB with 16 MiB touched ≤ 2× dense 16 MiB).

import { Engine, type Snapshot } from "../runtime/index.js";
import { check, fmtMs, fmtRatio, interleave, median, printTable, type TargetCheck, watToWasm } from "./harness.js";

const TOUCHED_PAGES = 256; // 16 MiB
const HELD_MIB = [16, 64, 256] as const;
/** The target: restoring 256 MiB with 16 MiB touched within this factor of a dense 16 MiB restore. */
export const TARGET_SPARSE_RESTORE_RATIO = 2;

export interface RestoreScalingRow {
  heldMiB: number;
  touchedMiB: number;
  restoreMs: number;
  vsDense16: number;
}

/** A guest of `pages` pages that fills every `stride`-th page (nonzero), then spins so a fuel slice pauses it. */
function guestWat(pages: number): string {
  return `(module (memory ${pages})
  (func (export "main") (param $stride i32) (local $p i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (i32.const ${pages})))
      (memory.fill (i32.shl (local.get $p) (i32.const 16)) (i32.const 7) (i32.const 65536))
      (local.set $p (i32.add (local.get $p) (local.get $stride)))
      (br $l)))
    (loop $spin (br $spin))))`;
}

async function pausedWith(engine: Engine, heldMiB: number): Promise<Snapshot> {
  const pages = heldMiB * 16;
  const stride = pages / TOUCHED_PAGES;
  const instance = await engine.instantiate(await engine.compile(watToWasm(guestWat(pages))));
  let r = await instance.run("main", [stride], { fuel: 5_000_000 });
  for (;;) {
    if (r.status !== "paused") throw new Error(`restore-scaling guest ${heldMiB} MiB ended: ${r.status}`);
    const s = await instance.snapshot();
    if (s.memory.pages.length >= TOUCHED_PAGES) {
      instance.dispose();
      return s;
    }
    r = await instance.resume({ fuel: 5_000_000 });
  }
}

export async function benchRestoreScaling(runs: number, warmup: number): Promise<{ rows: RestoreScalingRow[]; target: TargetCheck }> {
  const engine = new Engine();
  const snapshots = new Map<number, Snapshot>();
  for (const mib of HELD_MIB) snapshots.set(mib, await pausedWith(engine, mib));
  const samples = await interleave(
    HELD_MIB.map((mib) => ({
      name: String(mib),
      sample: async () => {
        const t0 = performance.now();
        const restored = await engine.restore(snapshots.get(mib)!);
        const ms = performance.now() - t0;
        if (restored.state !== "paused") throw new Error(`restore-scaling: restored instance is ${restored.state}`);
        restored.dispose();
        return ms;
      },
    })),
    { warmup, runs },
  );
  const ms = (mib: number) => median(samples.get(String(mib))!);
  const rows = HELD_MIB.map((mib) => ({ heldMiB: mib, touchedMiB: 16, restoreMs: ms(mib), vsDense16: ms(mib) / ms(16) }));
  printTable({
    title: `Restore against memory held: 16 MiB touched (median of ${runs} interleaved runs after ${warmup} warm-up)`,
    headers: ["memory held", "touched", "restore ms", "÷ dense 16 MiB"],
    align: ["left", "right", "right", "right"],
    rows: rows.map((r) => [`${r.heldMiB} MiB`, `${r.touchedMiB} MiB`, fmtMs(r.restoreMs), fmtRatio(r.vsDense16)]),
    notes: [
      "`engine.restore(snapshot)` until the paused instance exists; the 16 MiB row is dense (every page touched), the others touch one page in 4 / 16. A fresh instance's memory is zero but for its data segments' pages: only those are checked and cleared, so the rest of memory is never read.",
    ],
  });
  const target = check(
    "restore: 256 MiB with 16 MiB touched ÷ dense 16 MiB",
    rows.at(-1)!.vsDense16,
    "<=",
    TARGET_SPARSE_RESTORE_RATIO,
    "×",
  );
  return { rows, target };
}
