// Peers without guesswork, and jobs followed to where they live — two `ferry serve` children and the
// CLI as real child processes: node info / serve --json in the peers-file shape, peers add (fetching
// the peer's identity, used by the running node at once), migrate answering whether it committed, a
// paused job staying paused on arrival, status / resume / cancel / logs --follow following the job to
// its new node, a peers file read again on SIGHUP, and the old id spellings read with a note.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey, keyFingerprint, parsePublicKey, writeKeyFile } from "../../server/auth/index.js";
import { FerryClient } from "../../server/client.js";
import { ferry } from "../helpers/cli.js";
import { removeDir, shareModuleCache, tempDir } from "../helpers/node.js";
import { spawnNode, type NodeProcess } from "../helpers/node-process.js";
import { startedFerry, TICKER, type Started } from "../helpers/ticker.js";
import { until } from "../helpers/until.js";

const dir = tempDir("ferry-peers-cli-");
const key = join(dir, "me.json");
const dataA = join(dir, "a");
const dataB = join(dir, "b");
const nodes: NodeProcess[] = [];
const children: Started[] = [];
let a: NodeProcess;
let b: NodeProcess;

beforeAll(async () => {
  expect((await ferry(["keygen", "--out", key])).code).toBe(0);
  for (const data of [dataA, dataB])
    expect((await ferry(["admin", "add-client", "--create", "--data-dir", data, "--public-key", key])).code).toBe(0);
  // The run's module cache: peers and following jobs are under test, not compiling (the README cluster
  // walkthrough keeps two nodes that each instrument the module they run).
  for (const data of [dataA, dataB]) shareModuleCache(data);
  a = await spawnNode(dataA);
  b = await spawnNode(dataB);
  nodes.push(a, b);
});

afterAll(async () => {
  for (const c of children) c.kill();
  for (const n of nodes) await n.stop();
  removeDir(dir);
});

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;

describe("a node's entry, in exactly the peers-file shape", () => {
  it("ferry node info (asking the node, or reading its data directory) and ferry serve --json agree", async () => {
    const asked = await ferry(["node", "info", "--node", a.url]);
    expect(asked.code).toBe(0);
    const entry = json(asked.stdout);
    expect(Object.keys(entry)).toEqual(["nodeId", "url", "publicKey"]);
    expect(entry).toEqual({ nodeId: a.nodeId, url: a.url, publicKey: a.publicKey });
    // The id is the key's fingerprint, under the one name every file uses.
    expect(keyFingerprint(parsePublicKey(a.publicKey))).toBe(a.nodeId);
    expect(json(readFileSync(join(dataA, "node-key.json"), "utf8"))).toMatchObject({ nodeId: a.nodeId });
    const offline = await ferry(["node", "info", "--data-dir", dataA, "--url", a.url]);
    expect(json(offline.stdout)).toEqual(entry);
    expect((await ferry(["node", "info", "--data-dir", dataA])).code).toBe(2); // the address is needed
    expect((await ferry(["node", "info", "--data-dir", join(dir, "none"), "--url", a.url])).code).toBe(3);
  });
});

describe("ferry peers add", () => {
  it("fetches the peer's identity, shows its fingerprint, and the running node uses it at once", async () => {
    const wrong = await ferry(["peers", "add", b.url, "--data-dir", dataA, "--expect", "0".repeat(32)]);
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/fingerprint .* not the expected/);
    expect(await new FerryClient({ url: a.url }).peers()).toEqual([]);

    const added = await ferry(["peers", "add", b.url, "--data-dir", dataA, "--expect", b.nodeId]);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain(`added peer ${b.nodeId}`);
    expect(added.stdout).toContain(`fingerprint ${b.nodeId.replace(/(.{4})(?=.)/g, "$1 ")}`);
    expect((await ferry(["peers", "add", a.url, "--data-dir", dataB, "--json"])).code).toBe(0);
    // No restart: both nodes list each other now.
    expect((await new FerryClient({ url: a.url }).peers()).map((p) => p.nodeId)).toEqual([b.nodeId]);
    expect((await new FerryClient({ url: b.url }).peers()).map((p) => p.nodeId)).toEqual([a.nodeId]);
    const listed = await ferry(["peers", "list", "--data-dir", dataA, "--json"]);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ nodeId: b.nodeId, publicKey: b.publicKey }]);
    // A node is not its own peer.
    expect((await ferry(["peers", "add", a.url, "--data-dir", dataA])).code).toBe(3);
  });
});

describe("a job followed from node to node", () => {
  it("migrate says it committed; a paused job arrives paused; status, resume, cancel and logs --follow follow it", async () => {
    const at = (node: NodeProcess, ...args: string[]) => [...args, "--node", node.url, "--key", key];
    const codeHash = (
      await new FerryClient({ url: a.url, key: (await import("../../server/auth/index.js")).readKeyFile(key) }).uploadModule(TICKER)
    ).codeHash;
    const submitted = await ferry(at(a, "submit", codeHash, "--entry", "ticker", "--args", "200000", "--sandbox", "in-process"));
    const id = (json(submitted.stdout) as { id: string }).id;
    const follow = startedFerry(at(a, "logs", id, "--follow"), children);
    await until(() => follow.out.stderr.includes("log: tock"), "the job's first log line");

    expect(json((await ferry(at(a, "pause", id))).stdout)).toMatchObject({ state: "paused" });
    const moved = await ferry(at(a, "migrate", id, "--to", b.nodeId));
    expect(moved.code).toBe(0);
    expect(json(moved.stdout)).toMatchObject({
      state: "migrated",
      node: b.nodeId,
      result: null,
      movedTo: { node: b.nodeId, committed: true },
    });
    expect((json(moved.stdout).movedTo as { url: string }).url).toMatch(new RegExp(`^${b.url}/?$`));

    // Asked at A, answered from B: paused there, as it left.
    const status = await ferry(at(a, "status", id));
    expect(status.code).toBe(0);
    expect(json(status.stdout)).toMatchObject({ id, state: "paused", node: b.nodeId, result: null, movedTo: null });
    expect(status.stderr).toBe(`ferry: job ${id} moved: ${a.nodeId} -> ${b.nodeId} (now at ${b.url})\n`);
    expect(json((await ferry(at(a, "status", id, "--no-follow"))).stdout)).toMatchObject({
      state: "migrated",
      movedTo: { node: b.nodeId, committed: true },
    });
    await until(
      () => new RegExp(`job ${id} migrated\\n(.|\\n)*job ${id} paused\\n`).test(follow.out.stderr),
      "logs --follow to follow the job to B",
    );

    expect(json((await ferry(at(a, "resume", id))).stdout)).toMatchObject({ state: "running", node: b.nodeId });
    await until(() => new RegExp(`job ${id} paused\\n(.|\\n)*job ${id} running\\n`).test(follow.out.stderr), "the resume at B");
    await until(() => /running\n(.|\n)*log: tock\n/.test(follow.out.stderr), "log lines from B");
    expect(json((await ferry(at(a, "cancel", id))).stdout)).toMatchObject({ state: "cancelled", node: b.nodeId });
    expect(await follow.exited).toBe(1);
    // The output written at A and at B, every byte once, as B keeps it.
    const output = await ferry(at(a, "output", id));
    expect(output.stdout).toMatch(/^(tick\n)+$/);
    expect(follow.out.stdout).toBe(output.stdout);

    // A key B no longer accepts: following stops there, saying so (exit 3), never a wrong answer.
    expect((await ferry(["admin", "disable-client", JSON.parse(readFileSync(key, "utf8")).clientId, "--data-dir", dataB])).code).toBe(0);
    const refused = await ferry(at(a, "status", id));
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(new RegExp(`^ferry: job ${id} moved to node ${b.nodeId} at .*: 401 unauthorized: .*--no-follow.*\\n$`));
  });
});

describe("the peers file", () => {
  it("is read again on SIGHUP; old id names are read with a note; an old node-key.json is rewritten", async () => {
    const dataC = join(dir, "c");
    const peersFile = join(dir, "peers-c.json");
    // A peers entry copied from an old `serve --json` ("node"), and a node key written with "clientId".
    writeFileSync(peersFile, JSON.stringify([{ node: a.nodeId, url: a.url, publicKey: a.publicKey }]));
    (await import("node:fs")).mkdirSync(dataC, { mode: 0o700 });
    const old = generateSigningKey();
    writeKeyFile(join(dataC, "node-key.json"), old); // the client key format: its id is "clientId"
    const serve = startedFerry(["serve", "--port", "0", "--data-dir", dataC, "--peers", peersFile, "--json"], children);
    const line = await new Promise<string>((resolve) => createInterface({ input: serve.child.stdout }).once("line", resolve));
    const c = json(line) as { nodeId: string; url: string };
    expect(c.nodeId).toBe(old.clientId);
    expect(serve.out.stderr).toMatch(/"node" is the old name of the node id; write "nodeId"/);
    expect(serve.out.stderr).toMatch(/node-key\.json named the node id "clientId" .* rewritten with "nodeId"/);
    const rewritten = json(readFileSync(join(dataC, "node-key.json"), "utf8"));
    expect(rewritten).toMatchObject({ nodeId: old.clientId });
    expect(rewritten).not.toHaveProperty("clientId");
    const client = new FerryClient({ url: c.url });
    expect((await client.peers()).map((p) => p.nodeId)).toEqual([a.nodeId]);

    // B joins the file (fetched from B itself); the node reads the file again on SIGHUP, no restart.
    expect((await ferry(["peers", "add", b.url, "--file", peersFile])).code).toBe(0);
    expect(JSON.parse(readFileSync(peersFile, "utf8"))).toEqual([
      expect.objectContaining({ nodeId: a.nodeId }),
      expect.objectContaining({ nodeId: b.nodeId }),
    ]);
    serve.child.kill("SIGHUP");
    await until(async () => (await client.peers()).length === 2, "the node to read its peers file again");
    await until(() => serve.out.stderr.includes("SIGHUP: read"), "the reload's report");
    // A broken file on the next SIGHUP changes nothing, and the node goes on.
    writeFileSync(peersFile, "[{");
    serve.child.kill("SIGHUP");
    await until(() => serve.out.stderr.includes("not read again, peers unchanged"), "the refusal");
    expect((await client.health()).ok).toBe(true);
    expect((await client.peers()).length).toBe(2);
    serve.child.kill("SIGTERM");
    expect(await serve.exited).toBe(0);
  });
});
