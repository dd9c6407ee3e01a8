// What a migration does with a WASI job's resource directory, by the binding table, between two (or
// three) real nodes on loopback: reached by global reference (the default for a client's directory:
// writes land at the home node, the pin is released when the job ends, a move onward to a third
// node hands the pin over, a job that comes home uses the directory itself again), moved (the tree at the
// target, identical; gone from the source), copied (the source's left as it was). Each job is c-lz
// paused mid-run with its input open, moved, resumed, and must end as the straight run.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { wordText } from "../../guest/programs/catalog.js";
import type { JobDetail } from "../../server/node/job-resources.js";
import { ended, exitOf, LZ_ARGS as ARGS, lzCluster, outputText, pausedLz, program, resourceDir, straightRun } from "../helpers/lz-jobs.js";
import { closeNodes, type TestNode } from "../helpers/node.js";
import { untilValue } from "../helpers/until.js";

const nodes: TestNode[] = [];
afterEach(() => closeNodes(nodes));

const cluster = (count: number) => lzCluster(count, (n) => nodes.push(n));

describe("a resource directory reached by global reference (the default)", () => {
  it("stays at the home node: the job at the target writes there, ends as the straight run, and its pin is released", async () => {
    const { n } = await cluster(2);
    const [a, b] = n as [TestNode, TestNode];
    const input = wordText(1_500_000, 3);
    const { id, codeHash } = await pausedLz(a, input);
    const before = (await a.client.job(id)) as JobDetail;
    expect(before.bindings?.find((x) => x.resource === "/data")).toMatchObject({
      binding: "identifier",
      attachment: "fastened",
      action: "global-reference",
    });
    await a.client.migrate(id, b.running.identity.nodeId);
    const pins = a.running.node.pins.list({ jobId: id });
    expect(pins.map((p) => [p.dir, p.peer])).toEqual([["data", b.running.identity.nodeId]]);
    const there = (await b.client.job(id)) as JobDetail;
    expect(there.bindings?.find((x) => x.resource === "/data")).toMatchObject({
      action: "global-reference",
      home: a.running.identity.nodeId,
    });
    await b.client.resume(id);
    const end = await ended(b, id);
    expect(exitOf(end)).toBe(0);
    // Nothing of the directory at the target: every byte went home.
    expect(existsSync(resourceDir(b, "data"))).toBe(false);
    const straight = await straightRun(a, input, codeHash);
    expect(await outputText(b, id)).toBe(straight.stdout);
    expect(readFileSync(join(resourceDir(a, "data"), "words.lz")).equals(straight.lz)).toBe(true);
    await untilValue(
      async () => (a.running.node.pins.list({ jobId: id }).length === 0 ? true : undefined),
      "the pin to be released",
      30_000,
    );
  });

  it("is handed over when the job moves on to a third node, and is the directory itself again when the job comes home", async () => {
    const { n } = await cluster(3);
    const [a, b, c] = n as [TestNode, TestNode, TestNode];
    const [aId, bId, cId] = n.map((x) => x.running.identity.nodeId) as [string, string, string];
    const input = wordText(1_500_000, 4);
    const { id, codeHash } = await pausedLz(a, input);
    const pinsAt = (peer: string) => async () => {
      const held = a.running.node.pins.list({ jobId: id }).map((p) => p.peer);
      return held.length === 1 && held[0] === peer ? true : undefined;
    };
    await a.client.migrate(id, bId);
    await untilValue(pinsAt(bId), "A's one pin for the job to answer B", 30_000);
    // B → C: A makes a pin for C, and B's is released once the move is decided.
    await b.client.migrate(id, cId);
    await untilValue(pinsAt(cId), "A's one pin for the job to answer C", 30_000);
    expect(((await c.client.job(id)) as JobDetail).bindings?.find((x) => x.resource === "/data")?.home).toBe(aId);
    // Some of the run at C, through the reference, then home.
    await c.client.resume(id);
    expect((await c.client.pause(id)).state).toBe("paused");
    await c.client.migrate(id, aId);
    const home = (await a.client.job(id)) as JobDetail;
    expect(home.bindings?.find((x) => x.resource === "/data")?.home).toBeUndefined();
    expect(a.running.node.pins.list({ jobId: id })).toEqual([]);
    await a.client.resume(id);
    expect(exitOf(await ended(a, id))).toBe(0);
    const straight = await straightRun(a, input, codeHash);
    expect(await outputText(a, id)).toBe(straight.stdout);
    expect(readFileSync(join(resourceDir(a, "data"), "words.lz")).equals(straight.lz)).toBe(true);
    for (const x of [b, c]) expect(existsSync(resourceDir(x, "data"))).toBe(false);
  });
});

describe("a resource directory that travels", () => {
  it("moved: the tree is at the target, identical, and gone from the source; the job ends as the straight run", async () => {
    const { n } = await cluster(2);
    const [a, b] = n as [TestNode, TestNode];
    const input = wordText(1_500_000, 5);
    const { id, codeHash } = await pausedLz(a, input, { migrate: "move" });
    await a.client.migrate(id, b.running.identity.nodeId);
    expect(readFileSync(join(resourceDir(b, "data"), "words.txt")).equals(Buffer.from(input))).toBe(true);
    await untilValue(
      async () => (existsSync(join(resourceDir(a, "data"), "words.txt")) ? undefined : true),
      "the source's copy to go",
      30_000,
    );
    expect(b.running.store.jobs.get(id)?.treesHash).toBeNull();
    await b.client.resume(id);
    expect(exitOf(await ended(b, id))).toBe(0);
    const straight = await straightRun(a, input, codeHash);
    expect(await outputText(b, id)).toBe(straight.stdout);
    expect(readFileSync(join(resourceDir(b, "data"), "words.lz")).equals(straight.lz)).toBe(true);
  });

  it("moved weakly: the job starts again at the target, on the tree it brought (the body is the tree bundle alone)", async () => {
    const { n } = await cluster(2);
    const [a, b] = n as [TestNode, TestNode];
    const input = wordText(600_000, 7);
    const { id, codeHash } = await pausedLz(a, input, { migrate: "move" });
    // A file only the source has, in a subdirectory: the whole tree goes.
    mkdirSync(join(resourceDir(a, "data"), "notes"));
    writeFileSync(join(resourceDir(a, "data"), "notes", "n.txt"), "kept with the job\n");
    await a.client.migrate(id, b.running.identity.nodeId, "weak");
    expect(readFileSync(join(resourceDir(b, "data"), "notes", "n.txt"), "utf8")).toBe("kept with the job\n");
    expect(exitOf(await ended(b, id))).toBe(0);
    const straight = await straightRun(a, input, codeHash);
    expect(await outputText(b, id)).toBe(straight.stdout);
    expect(readFileSync(join(resourceDir(b, "data"), "words.lz")).equals(straight.lz)).toBe(true);
    expect(existsSync(join(resourceDir(a, "data"), "notes", "n.txt"))).toBe(false);
  });

  it("copied: the target has the tree, the source keeps its own as it was", async () => {
    const { n } = await cluster(2);
    const [a, b] = n as [TestNode, TestNode];
    const input = wordText(800_000, 6);
    const { id, codeHash } = await pausedLz(a, input, { binding: "value", attachment: "unattached" });
    const before = readFileSync(join(resourceDir(a, "data"), "words.txt"));
    await a.client.migrate(id, b.running.identity.nodeId);
    expect(((await b.client.job(id)) as JobDetail).bindings?.find((x) => x.resource === "/data")?.action).toBe("copy");
    await b.client.resume(id);
    expect(exitOf(await ended(b, id))).toBe(0);
    expect(readFileSync(join(resourceDir(a, "data"), "words.txt")).equals(before)).toBe(true);
    const straight = await straightRun(a, input, codeHash);
    expect(readFileSync(join(resourceDir(b, "data"), "words.lz")).equals(straight.lz)).toBe(true);
    expect(await outputText(b, id)).toBe(straight.stdout);
  });

  it("refuses an action the table does not allow, naming what it allows", async () => {
    const { n } = await cluster(1);
    const { codeHash } = await n[0]!.client.uploadModule(program("c-lz"));
    const refused = await n[0]!.client
      .startJob({ codeHash, wasi: { args: ARGS, env: {}, dirs: [{ guest: "/data", resource: "data", access: "rw", migrate: "copy" }] } })
      .then(
        () => undefined,
        (e: { code?: string; message?: string }) => e,
      );
    expect(refused?.code).toBe("bad_request");
    expect(refused?.message).toContain('"global-reference", "move"');
    const pinned = await n[0]!.client
      .startJob({
        codeHash,
        wasi: {
          args: ARGS,
          env: {},
          dirs: [{ guest: "/data", resource: "data", access: "rw", home: { home: "x", pin: "y", access: "rw" } }],
        },
      } as never)
      .then(
        () => undefined,
        (e: { code?: string; message?: string }) => e,
      );
    expect(pinned?.code).toBe("bad_request");
    expect(pinned?.message).toContain("made by migration");
  });
});
