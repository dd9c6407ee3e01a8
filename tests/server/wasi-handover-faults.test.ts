// A global reference handed over on a move onward (A home, the job at B, moving to C) with a message
// lost: undecided, the hand-over is taken back — A keeps only B's pin, the job goes on at B and ends
// there, writing at A; decided, B's pin is let go and C's kept — the job ends at C, writing at A,
// and its pin is released after. Three real nodes, the fault hook failing one step of one job.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wordText } from "../../guest/programs/catalog.js";
import { ended, exitOf, lzCluster, outputText, pausedLz, program, resourceDir, straightRun } from "../helpers/lz-jobs.js";
import { lostMessage } from "../helpers/lost-message.js";
import { closeNodes, type TestNode } from "../helpers/node.js";
import { untilValue } from "../helpers/until.js";

const INPUT = wordText(300_000, 8);
/** The one lost message: a step of a job fails once. */
const lost = lostMessage();

const nodes: TestNode[] = [];
let a: TestNode;
let b: TestNode;
let c: TestNode;
let straight: { stdout: string; lz: Buffer };

beforeAll(async () => {
  [a, b, c] = (await lzCluster(3, (n) => nodes.push(n), { node: () => ({ faults: lost.hook }) })).n as [TestNode, TestNode, TestNode];
  const { codeHash } = await a.client.uploadModule(program("c-lz"));
  straight = await straightRun(a, INPUT, codeHash);
}, 120_000);

afterAll(() => closeNodes(nodes));

/** The peers A's pins for job `id` answer, once they are exactly `peers`. */
function pinsFor(id: string, peers: TestNode[]): Promise<true> {
  const want = peers.map((p) => p.running.identity.nodeId).sort();
  return untilValue(
    () => {
      const held = a.running.node.pins
        .list({ jobId: id })
        .map((p) => p.peer)
        .sort();
      return JSON.stringify(held) === JSON.stringify(want) ? true : undefined;
    },
    `A's pins for ${id} to answer ${JSON.stringify(want)}`,
    30_000,
  );
}

describe("a global reference handed over with a message lost", () => {
  for (const [step, decided] of [
    ["source:before-prepare", false],
    ["target:after-prepare", false],
    ["source:after-decision", true],
  ] as const) {
    it(`${step}: ${decided ? "the job is C's, reaching A through its own pin" : "the hand-over is taken back, the job goes on at B"}`, async () => {
      const { id } = await pausedLz(a, INPUT);
      await a.client.migrate(id, b.running.identity.nodeId);
      await pinsFor(id, [b]);
      lost.arm(step, id);
      const moved = await b.client.migrate(id, c.running.identity.nodeId).then(
        () => true,
        () => false,
      );
      expect(lost.fired()).toBe(true);
      expect(moved).toBe(decided);
      const at = decided ? c : b;
      await pinsFor(id, [at]);
      await untilValue(
        () => (at.running.store.jobs.get(id)?.state === "paused" ? true : undefined),
        `job ${id} paused at its node`,
        30_000,
      );
      await at.client.resume(id);
      expect(exitOf(await ended(at, id))).toBe(0);
      expect(await outputText(at, id)).toBe(straight.stdout);
      expect(readFileSync(join(resourceDir(a, "data"), "words.lz")).equals(straight.lz)).toBe(true);
      await pinsFor(id, []);
    });
  }
});
