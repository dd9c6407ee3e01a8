// A registered peer attacks a node with the tree bundle of a migration: PREPARE and PRE-COPY bodies
// signed correctly by the real source node's key, for a real job of the client's there (c-lz,
// paused, its directory to be moved), whose trees lie — paths that climb out, blobs that do not
// match or never came, trees that are not the job's, more than the owner's quota here, a `trees`
// count past the body. Each is 400 naming the problem; the target stores no job and writes no
// file; the source's job goes on as it was — and then really moves and ends as it should.
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wordText } from "../../guest/programs/catalog.js";
import { encodeTreeBundle, type TreeManifest } from "../../runtime/index.js";
import { digest } from "../../runtime/resources/tree-transfer.js";
import { signGrant } from "../../server/auth/index.js";
import { snapshotDigest, TRANSFER_VERSION, type TransferHeader } from "../../server/migration/transfer-header.js";
import type { JobWasi } from "../../server/store/records.js";
import { ended, exitOf, LZ_ARGS, lzCluster, pausedLz, program, resourceDir } from "../helpers/lz-jobs.js";
import { closeNodes, type TestNode } from "../helpers/node.js";
import { asNode } from "../helpers/pins.js";
import { type Answer, decide, offer } from "./peer-helpers.js";

const QUOTA = { maxFuelPerJob: 1e13, maxResourceBytes: 256 * 1024, maxResourceEntries: 20 };
const INPUT = wordText(20_000, 11);
const MOVED: JobWasi = { args: LZ_ARGS, env: {}, dirs: [{ guest: "/data", resource: "data", access: "rw", migrate: "move" }] };

const nodes: TestNode[] = [];
let a: TestNode;
let b: TestNode;
let job: { id: string; codeHash: string };
let snapshot: Uint8Array;

beforeAll(async () => {
  const cluster = await lzCluster(2, (n) => nodes.push(n), { node: (i) => (i === 1 ? { quotas: QUOTA } : {}) });
  [a, b] = cluster.n as [TestNode, TestNode];
  job = await pausedLz(a, INPUT, { migrate: "move" });
  // The code is the owner's at the target too, so an honest offer needs nothing from the source.
  await b.client.uploadModule(program("c-lz"));
  const checkpoint = a.running.store.checkpoints.latest(job.id);
  snapshot = a.running.store.checkpoints.read(checkpoint!);
}, 120_000);

afterAll(() => closeNodes(nodes));

const bytesOf = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const file = (path: string, content: string) => ({ path, type: "file" as const, size: content.length, sha256: digest(bytesOf(content)) });

/** A bundle of `trees` (manifests as given, never checked here) carrying `content` as blobs. */
function bundle(trees: Record<string, { entries: unknown[] }>, ...content: string[]): Uint8Array {
  return encodeTreeBundle({
    trees: new Map(Object.entries(trees).map(([k, m]) => [k, { entries: m.entries, bytes: 0 } as TreeManifest])),
    blobs: new Map(content.map((c) => [digest(bytesOf(c)), bytesOf(c)])),
  });
}
const climbing = (): Uint8Array => bundle({ "/data": { entries: [file("../x", "x")] } }, "x");
const words = (content = "the words"): Uint8Array => bundle({ "/data": { entries: [file("words.txt", content)] } }, content);

/** The job's transfer to b as its source would offer it, weak (no snapshot), granted by the owner. */
function header(trees: Uint8Array | undefined, over: Partial<TransferHeader> = {}): TransferHeader {
  const source = a.running.identity.nodeId;
  const target = b.running.identity.nodeId;
  return {
    v: TRANSFER_VERSION,
    kind: "weak",
    jobId: job.id,
    epoch: 1,
    source,
    target,
    codeHash: job.codeHash,
    entry: "_start",
    args: [],
    owner: a.key.clientId,
    trust: "authenticated",
    sandbox: "isolated",
    fuelLimit: null,
    fuelUsed: 0,
    snapshotSha256: null,
    baseHash: null,
    input: null,
    wasi: MOVED,
    grant: signGrant(a.key, { job: job.id, source, target }),
    trees: trees?.byteLength ?? 0,
    ...over,
  };
}

const prepare = (trees: Uint8Array | undefined, over: Partial<TransferHeader> = {}, body = trees): Promise<Answer> =>
  offer(b, asNode(a), header(trees, over), body ?? new Uint8Array(0));

/** A pre-copy round of the job's own snapshot, then `trees`. */
const precopy = (trees: Uint8Array, over: Partial<TransferHeader> = {}): Promise<Answer> =>
  offer(
    b,
    asNode(a),
    header(trees, { kind: "base", snapshotSha256: snapshotDigest(snapshot), ...over }),
    Buffer.concat([snapshot, trees]),
    "precopy",
  );

/** Nothing of the attempt at the target, and the job at its source as it was. */
function untouched(): void {
  expect(b.running.store.jobs.get(job.id)).toBeUndefined();
  const root = resourceDir(b, "");
  expect(existsSync(root) ? readdirSync(root) : []).toEqual([]);
  expect(a.running.store.jobs.get(job.id)?.state).toBe("paused");
  expect(readFileSync(join(resourceDir(a, "data"), "words.txt")).equals(INPUT)).toBe(true);
}

function refused(answer: Answer, status: number, code: string, message: RegExp): void {
  expect({ status: answer.status, code: answer.code }).toEqual({ status, code });
  expect((JSON.parse(answer.body) as { error: { message: string } }).error.message).toMatch(message);
  untouched();
}

const many = Array.from({ length: QUOTA.maxResourceEntries + 1 }, (_, i) => file(`f${i}`, ""));
const big = "x".repeat(QUOTA.maxResourceBytes + 1);
const rebound: JobWasi = { ...MOVED, dirs: [{ guest: "/data", resource: "data", access: "rw", binding: "type" }] };

describe("PREPARE with a forged tree bundle: 400, nothing stored, the source's job intact", () => {
  it.each<[string, () => Promise<Answer>, string, RegExp]>([
    ["a path that climbs out", () => prepare(climbing()), "tree_malformed", /outside the tree/],
    ["an absolute path", () => prepare(bundle({ "/data": { entries: [file("/etc/x", "x")] } }, "x")), "tree_malformed", /outside the tree/],
    ["a path with NUL", () => prepare(bundle({ "/data": { entries: [file("a\0b", "x")] } }, "x")), "tree_malformed", /outside the tree/],
    ["a blob not matching its digest", () => prepare(tampered(words("honest"))), "tree_malformed", /does not match its digest/],
    [
      "a manifest naming a blob that never came",
      () => prepare(bundle({ "/data": { entries: [file("words.txt", "?")] } })),
      "bad_request",
      /no bytes came for \/data: words\.txt/,
    ],
    ["a tree the job does not have", () => prepare(bundle({ "/other": { entries: [] } })), "bad_request", /the trees are \["\/other"\]/],
    [
      "a tree more than the job's",
      () => prepare(bundle({ "/data": { entries: [] }, "/etc": { entries: [] } })),
      "bad_request",
      /directories that travel are \["\/data"\]/,
    ],
    ["no tree for a directory that travels", () => prepare(undefined), "bad_request", /"\/data" travels, but no trees came/],
    [
      "a tree for a directory that does not travel",
      () => prepare(words(), { wasi: rebound }),
      "bad_request",
      /directories that travel are \[\]/,
    ],
    [
      "more bytes than the owner's quota here",
      () => prepare(bundle({ "/data": { entries: [file("big", big)] } }, big)),
      "tree_malformed",
      /more than 262144 bytes/,
    ],
    [
      "more entries than the owner's quota here",
      () => prepare(bundle({ "/data": { entries: many } }, "")),
      "tree_malformed",
      /more than 20/,
    ],
    [
      "a trees count past the body",
      () => prepare(words(), {}, words().subarray(0, 10)),
      "bad_request",
      /shorter than its \d+ bytes of trees/,
    ],
  ])("%s", async (_what, send, code, message) => {
    refused(await send(), 400, code, message);
  });

  it("a global reference in a transfer without the owner's grant: 403, anonymous jobs bind no resource directory", async () => {
    const referenced: JobWasi = {
      ...MOVED,
      dirs: [
        {
          guest: "/data",
          resource: "data",
          access: "rw",
          home: { home: a.running.identity.nodeId, pin: randomBytes(16).toString("base64url"), access: "rw" },
        },
      ],
    };
    refused(
      await prepare(undefined, { wasi: referenced, grant: null }),
      403,
      "forbidden",
      /anonymous jobs may have scratch directories only/,
    );
    refused(await prepare(words(), { grant: null }), 403, "forbidden", /anonymous jobs may have scratch directories only/);
  });
});

/** `b` with its last blob's last byte changed (the digest in the index stays). */
function tampered(b: Uint8Array): Uint8Array {
  const copy = new Uint8Array(b);
  copy[copy.byteLength - 1] ^= 1;
  return copy;
}

describe("PRE-COPY with a forged tree bundle: 400, nothing stored", () => {
  it.each<[string, () => Promise<Answer>, string, RegExp]>([
    ["a path that climbs out", () => precopy(climbing()), "tree_malformed", /outside the tree/],
    ["a blob not matching its digest", () => precopy(tampered(words("honest"))), "tree_malformed", /does not match its digest/],
    ["more bytes than the owner's quota here", () => precopy(bundle({}, big)), "tree_malformed", /more than 262144 bytes/],
    ["a trees count past the body", () => precopy(words(), { trees: snapshot.byteLength + 1_000 }), "bad_request", /shorter than/],
  ])("%s", async (_what, send, code, message) => {
    refused(await send(), 400, code, message);
  });

  it("rounds that together bring more than the owner's quota: the one past it is refused", async () => {
    const half = (c: string) => c.repeat(QUOTA.maxResourceBytes / 2 + 1);
    expect((await precopy(bundle({}, half("a")))).status).toBe(200);
    // Each round alone fits; held together until the PREPARE they would not.
    refused(await precopy(bundle({}, half("b"))), 400, "bad_request", /pre-copy rounds bring more than 262144 bytes/);
  });
});

describe("control: the honest offer is taken, and the real move after the attacks works", () => {
  it("an honest bundle is prepared (no file written before COMMIT), aborted, then the job really moves and ends", async () => {
    const ok = await prepare(words(Buffer.from(INPUT).toString("latin1")));
    expect({ status: ok.status, body: JSON.parse(ok.body) as unknown }).toEqual({ status: 200, body: { prepared: true, epoch: 1 } });
    expect(existsSync(resourceDir(b, "data"))).toBe(false);
    expect((await decide(b, asNode(a), "abort", job.id)).status).toBe(200);
    untouched();
    await a.client.migrate(job.id, b.running.identity.nodeId);
    await b.client.resume(job.id);
    expect(exitOf(await ended(b, job.id))).toBe(0);
    expect(readFileSync(join(resourceDir(b, "data"), "words.txt")).equals(INPUT)).toBe(true);
    expect(existsSync(join(resourceDir(b, "data"), "words.lz"))).toBe(true);
  });
});
