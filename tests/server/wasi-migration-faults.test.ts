// Exactly once, with a resource directory attached: a WASI job (c-lz paused mid-run, its directory
// reached by global reference, moved, or copied) is migrated between two real nodes with one
// message of the protocol lost at each step (server/migration/faults.ts). Afterwards exactly one
// node runs it, it ends as the straight run, and its directory is where the action says: a moved
// tree at exactly the node that runs the job (never lost from both), a copied one unchanged at the
// source, a pin at the home node while the job runs at the target and none left after it ends or
// when the transfer aborted. One pair of nodes serves every case: the hook fails one step of one job.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wordText } from "../../guest/programs/catalog.js";
import { HttpError } from "../../server/client.js";
import { TRANSFER_STEPS, type TransferStep } from "../../server/migration/faults.js";
import type { JobResourceDir } from "../../server/store/records.js";
import { ended, exitOf, lzCluster, outputText, pausedLz, program, resourceDir, straightRun } from "../helpers/lz-jobs.js";
import { lostMessage } from "../helpers/lost-message.js";
import { closeNodes, type TestNode } from "../helpers/node.js";
import { until, untilValue } from "../helpers/until.js";

const ACTIONS: Record<string, Partial<JobResourceDir>> = {
  "global-reference": {},
  move: { migrate: "move" },
  copy: { binding: "value", attachment: "unattached" },
};
/** Failures from here on leave the decision made: the job is the target's. */
const DECIDED: readonly TransferStep[] = ["source:after-decision", "target:before-commit", "target:after-commit"];
const INPUT = wordText(300_000, 7);

/** The one lost message: a step of a job fails once. */
const lost = lostMessage();

const nodes: TestNode[] = [];
let a: TestNode;
let b: TestNode;
let straight: { stdout: string; lz: Buffer };

beforeAll(async () => {
  [a, b] = (await lzCluster(2, (n) => nodes.push(n), { node: () => ({ faults: lost.hook }) })).n as [TestNode, TestNode];
  const { codeHash } = await a.client.uploadModule(program("c-lz"));
  straight = await straightRun(a, INPUT, codeHash);
}, 120_000);

afterAll(() => closeNodes(nodes));

/** The job's state at `n`, once it is one of `states` ("absent": no row). */
function settled(n: TestNode, id: string, states: string[]): Promise<string> {
  return untilValue(
    () => {
      const state = n.running.store.jobs.get(id)?.state ?? "absent";
      return states.includes(state) ? state : undefined;
    },
    `job ${id} to be ${states.join("|")} at ${n.running.identity.nodeId}`,
    30_000,
  );
}

const fileAt = (n: TestNode, dir: string, name: string): Buffer | undefined => {
  const path = join(resourceDir(n, dir), name);
  return existsSync(path) ? readFileSync(path) : undefined;
};

/** Migrate with `step` lost; whether the job is the target's now (the call's answer agrees with the step). */
async function migrateLosing(step: TransferStep, id: string): Promise<boolean> {
  lost.arm(step, id);
  const moved = await a.client.migrate(id, b.running.identity.nodeId).then(
    () => true,
    (e: unknown) => {
      expect(e).toBeInstanceOf(HttpError);
      expect((e as HttpError).code).toBe("conflict");
      expect((e as HttpError).message).toMatch(/migration to .* failed, the job goes on here/);
      return false;
    },
  );
  expect(lost.fired()).toBe(true); // the step was reached, and failed
  expect(moved).toBe(DECIDED.includes(step));
  return moved;
}

/** Before the job runs again: the directory where the action and the outcome put it. */
async function checkPaused(action: string, dir: string, id: string, moved: boolean): Promise<void> {
  const pins = () => a.running.node.pins.list({ jobId: id });
  if (action === "global-reference") {
    if (moved) expect(pins().map((p) => [p.dir, p.peer])).toEqual([[dir, b.running.identity.nodeId]]);
    else await until(() => pins().length === 0, "the aborted transfer's pin to go", 30_000);
    expect(existsSync(resourceDir(b, dir))).toBe(false);
    return;
  }
  expect(pins()).toEqual([]);
  if (moved) expect(fileAt(b, dir, "words.txt")?.equals(INPUT)).toBe(true);
  else expect(fileAt(b, dir, "words.txt")).toBeUndefined();
  if (action === "move" && moved) await until(() => !fileAt(a, dir, "words.txt"), "the moved tree to leave the source", 30_000);
  else expect(fileAt(a, dir, "words.txt")?.equals(INPUT)).toBe(true);
}

/** After the job ended at `runner`: its compressed file where it wrote it, nothing of it anywhere else. */
async function checkEnded(action: string, dir: string, id: string, moved: boolean): Promise<void> {
  const writtenAt = moved && action !== "global-reference" ? b : a;
  const other = writtenAt === a ? b : a;
  expect(fileAt(writtenAt, dir, "words.lz")?.equals(straight.lz)).toBe(true);
  expect(fileAt(other, dir, "words.lz")).toBeUndefined();
  // A moved tree is whole at exactly one node; a copied one is still the source's as it was.
  if (action === "move") expect([fileAt(a, dir, "words.txt"), fileAt(b, dir, "words.txt")].filter(Boolean)).toHaveLength(1);
  if (action === "copy") expect(fileAt(a, dir, "words.txt")?.equals(INPUT)).toBe(true);
  await until(() => a.running.node.pins.list({ jobId: id }).length === 0, "the job's pin to be released", 30_000);
}

const CASES = Object.keys(ACTIONS).flatMap((action) => TRANSFER_STEPS.map((step, i) => ({ action, step, i })));

describe("exactly once with a resource directory attached", () => {
  it.each(CASES)("$action, the message at $step lost: one node runs the job, the directory is right", async ({ action, step, i }) => {
    const dir = `data/${action}-${i}`;
    const { id } = await pausedLz(a, INPUT, { resource: dir, ...ACTIONS[action] });
    const moved = await migrateLosing(step, id);
    // Both sides settle: the job is the target's (paused there, committed) or the source's, never both.
    expect(await settled(a, id, [moved ? "migrated" : "paused"])).toBe(moved ? "migrated" : "paused");
    expect(await settled(b, id, [moved ? "paused" : "absent"])).toBe(moved ? "paused" : "absent");
    await checkPaused(action, dir, id, moved);
    const runner = moved ? b : a;
    await runner.client.resume(id);
    const end = await ended(runner, id);
    expect(exitOf(end)).toBe(0);
    expect(await outputText(runner, id)).toBe(straight.stdout);
    expect(a.running.store.jobs.get(id)?.state).toBe(moved ? "migrated" : "done");
    expect(b.running.store.jobs.get(id)?.state).toBe(moved ? "done" : undefined);
    await checkEnded(action, dir, id, moved);
  });
});
