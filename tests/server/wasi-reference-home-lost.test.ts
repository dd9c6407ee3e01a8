// A WASI job that moved away from its resource directory (reached by global reference at its home
// node) and then lost the home node: every call on the directory fails with EIO by the target's
// deadline (node limit peerCallDeadlineMs, short here), the C program takes its own error path and
// ends — never hangs — and the target goes on serving other jobs. The home's files are untouched.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { wordText } from "../../guest/programs/catalog.js";
import { resourceDirs } from "../../server/job-wasi.js";
import { rejectedErrno } from "../helpers/errors.js";
import { ended, exitOf, lzCluster, outputText, pausedLz, program, resourceDir } from "../helpers/lz-jobs.js";
import { closeNodes, type TestNode } from "../helpers/node.js";

const nodes: TestNode[] = [];
afterEach(() => closeNodes(nodes));

const DEADLINE_MS = 1_500;

describe("a global reference whose home node is gone", () => {
  it("the job at the target gets EIO, ends by its own error path, and the target keeps serving", async () => {
    const { n } = await lzCluster(2, (x) => nodes.push(x), {
      node: (i) => (i === 1 ? { limits: { peerCallDeadlineMs: DEADLINE_MS } } : {}),
    });
    const [a, b] = n as [TestNode, TestNode];
    const input = wordText(200_000, 9);
    const { id } = await pausedLz(a, input);
    await a.client.migrate(id, b.running.identity.nodeId);
    expect(a.running.node.pins.list({ jobId: id })).toHaveLength(1);

    // The home node goes (its port refuses from now on); the job at the target reads and writes there.
    await a.close();
    await b.client.resume(id);
    // A generous wait only turns a hang into a failure: each call gives up at DEADLINE_MS.
    const end = await ended(b, id, 60_000);
    // c-lz's exit status for an I/O error (its perror goes to the node's log, not the job's output).
    expect(exitOf(end)).toBe(2);
    // What the guest got, from the same node's reference with its deadline: EIO, not a hang.
    const ref = resourceDirs(end.wasi ?? null)[0]?.home;
    expect(ref?.home).toBe(a.running.identity.nodeId);
    expect(await rejectedErrno(Promise.resolve(b.running.node.pins.reference(ref!).stat("words.txt")))).toBe("EIO");

    // The target is whole: it answers, and runs the next job to its end.
    expect((await fetch(`${b.running.url}/healthz`)).status).toBe(200);
    const { codeHash } = await b.client.uploadModule(program("c-hello"));
    const next = await b.client.startJob({ codeHash, wasi: { args: ["x"], env: {}, dirs: [] } });
    const done = await ended(b, next.id);
    expect(exitOf(done)).toBe(1);
    expect(await outputText(b, next.id)).toContain("hello from C, 1 argument(s)");
    // Nothing of the directory was made at the target, and the home's files are as they were.
    expect(existsSync(resourceDir(b, "data"))).toBe(false);
    expect(readFileSync(join(resourceDir(a, "data"), "words.txt")).equals(Buffer.from(input))).toBe(true);
  });
});
