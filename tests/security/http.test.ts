// Attacks on a node's HTTP API over real HTTP on loopback: oversized and malformed bodies, bad Wasm,
// forged, stale and replayed signatures, other callers' resources, quotas, path traversal, /peer
// routes without a peer's key and tampered transfers. Every rejection must be the documented status
// and code, store nothing (rows and blob files are counted), and leave the node serving.
import Database from "better-sqlite3";
import { readdirSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MAX_MEMORY_PAGES, Engine, encodeSnapshot, type Snapshot } from "../../runtime/index.js";
import { decodeImage, encodeImage } from "../../runtime/exec/continuation.js";
import { MAX_ENTRY_ARGS } from "../../runtime/limits.js";
import { generateSigningKey, signGrant, signRequest, type SigningKey } from "../../server/auth/index.js";
import { FerryClient } from "../../server/client.js";
import {
  encodeTransferHeader,
  maxTransferBytes,
  snapshotDigest,
  TRANSFER_HEADER,
  TRANSFER_VERSION,
  type TransferHeader,
} from "../../server/migration/transfer-header.js";
import { INFINITE_LOOP, LOOP_AND_RECURSION } from "../helpers/fixtures.js";
import { removeDir, startTestNode, type TestNode } from "../helpers/node.js";
import { ANSWER, manyExports } from "./fixtures.js";
import { wat } from "../helpers/wat.js";

const MODULE_QUOTA_BYTES = 256 * 1024;
// The spinning job below must still be running after a few dozen requests: a machine runs ~5·10^9
// fuel a second of a tight loop, so the quota is minutes of it, not a fraction of a second.
const MAX_FUEL_PER_JOB = 10 ** 12;
let n: TestNode;
/** A second registered client: must never see or touch the first one's private things. */
let other: FerryClient;
/** A configured peer of the node: its key may sign /peer requests. */
let peerKey: SigningKey;
let db: Database.Database;
/** Modules every test may use: public ANSWER, private LOOP_AND_RECURSION, private INFINITE_LOOP. */
let publicHash: string;
let privateHash: string;
let spinHash: string;

beforeAll(async () => {
  n = await startTestNode({ quotas: { maxConcurrentJobs: 2, maxModuleBytes: MODULE_QUOTA_BYTES, maxFuelPerJob: MAX_FUEL_PER_JOB } });
  const otherKey = generateSigningKey();
  n.running.store.clients.add({ publicKey: otherKey.publicKey });
  other = new FerryClient({ url: n.running.url, key: otherKey });
  peerKey = generateSigningKey();
  // Port 9 (discard) on loopback: nothing answers, so the node never reaches this "peer" itself.
  n.running.store.peers.upsert({ nodeId: peerKey.clientId, url: "http://127.0.0.1:9", publicKey: peerKey.publicKey });
  db = new Database(join(n.dataDir, "ferry.db"), { readonly: true, fileMustExist: true });
  publicHash = (await n.client.uploadModule(ANSWER, { public: true })).codeHash;
  privateHash = (await n.client.uploadModule(LOOP_AND_RECURSION, { public: false })).codeHash;
  spinHash = (await n.client.uploadModule(INFINITE_LOOP, { public: false })).codeHash;
});

afterAll(async () => {
  db?.close();
  await n?.close();
  if (n) removeDir(n.dataDir);
});

// ---- what the store holds ----

interface StoreCounts {
  rows: Record<string, number>;
  /** Every file under blobs/, temp files included. */
  blobFiles: number;
}

function counts(): StoreCounts {
  const rows: Record<string, number> = {};
  // Nonces are left out: a validly signed request that is then refused (say, over quota) still uses its nonce up.
  for (const table of ["clients", "modules", "jobs", "checkpoints", "peers"]) {
    rows[table] = (db.prepare(`SELECT count(*) AS c FROM ${table}`).get() as { c: number }).c;
  }
  const blobFiles = readdirSync(join(n.dataDir, "blobs"), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).length;
  return { rows, blobFiles };
}

// ---- sending requests ----

interface Answer {
  status: number;
  code: string | undefined;
  body: string;
}

async function answer(r: Response): Promise<Answer> {
  const body = await r.text();
  let code: string | undefined;
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    if (parsed.error) {
      expect(typeof parsed.error.code).toBe("string");
      expect(typeof parsed.error.message).toBe("string");
      code = parsed.error.code as string;
    }
  } catch {
    // not JSON: code stays undefined
  }
  return { status: r.status, code, body };
}

function send(
  method: string,
  path: string,
  options: { body?: Uint8Array | string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const body = typeof options.body === "string" ? new TextEncoder().encode(options.body) : options.body;
  return fetch(`${n.running.url}${path}`, {
    method,
    headers: options.headers ?? {},
    ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}),
  }).then(answer);
}

/** Signed with `key` over exactly what is sent, unless `signed` says otherwise (to forge a mismatch). */
function signed(
  key: Pick<SigningKey, "clientId" | "privateKey">,
  method: string,
  path: string,
  body?: Uint8Array | string,
  signedAs: { method?: string; path?: string; body?: Uint8Array | string; now?: number } = {},
): Promise<Answer> {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const signedBody =
    signedAs.body === undefined ? bytes : typeof signedAs.body === "string" ? new TextEncoder().encode(signedAs.body) : signedAs.body;
  const headers = signRequest(key, {
    method: signedAs.method ?? method,
    path: signedAs.path ?? path,
    body: signedBody,
    ...(signedAs.now === undefined ? {} : { now: signedAs.now }),
  });
  return send(method, path, { ...(bytes ? { body: bytes } : {}), headers: { ...headers } });
}

/**
 * A request the fetch API would refuse to make: a raw path (no normalisation), a declared length
 * the body does not have, or a chunked body. Resolves with the first answer; errors writing the
 * rest of a body the server has stopped reading are expected and ignored.
 */
function raw(method: string, path: string, options: { headers?: Record<string, string>; chunks?: Uint8Array[] } = {}): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const url = new URL(n.running.url);
    let answered = false;
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers: options.headers ?? {}, agent: false }, (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => {
        const body = Buffer.concat(parts).toString("utf8");
        let code: string | undefined;
        try {
          code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode ?? 0, code, body });
        req.destroy();
      });
    });
    req.on("error", (e) => {
      if (!answered) reject(e);
    });
    const write = async (): Promise<void> => {
      for (const chunk of options.chunks ?? []) {
        if (answered || req.destroyed) return;
        if (!req.write(chunk)) await new Promise<void>((r) => req.once("drain", () => r()));
      }
      if (!answered && !req.destroyed) req.end();
    };
    void write().catch(() => undefined);
  });
}

/**
 * The rejection contract: the exact status and code in a JSON error body, nothing new in the store,
 * and the node still answering.
 */
async function refused(attempt: () => Promise<Answer>, status: number, code: string): Promise<Answer> {
  const before = counts();
  const a = await attempt();
  expect({ status: a.status, code: a.code }).toEqual({ status, code });
  expect(counts()).toEqual(before);
  expect((await send("GET", "/healthz")).status).toBe(200);
  return a;
}

const json = (value: unknown): string => JSON.stringify(value);
const MiB = 1024 * 1024;

describe("oversized bodies: 413, nothing stored", () => {
  it("a module over the node's 16 MiB limit, refused by its declared length before reading", async () => {
    const headers = {
      ...signRequest(n.key, { method: "POST", path: "/modules", body: new Uint8Array(0) }),
      "content-length": String(17 * MiB),
    };
    await refused(() => raw("POST", "/modules", { headers }), 413, "payload_too_large");
  });

  it("a JSON body over 8 MiB sent chunked (no length): cut off while streaming", async () => {
    const chunk = new Uint8Array(MiB).fill(0x20);
    await refused(
      () =>
        raw("POST", "/jobs", {
          headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
          chunks: Array(9).fill(chunk),
        }),
      413,
      "payload_too_large",
    );
  });

  it("a /peer body from anyone who is not a configured peer is refused before it is read", async () => {
    await refused(() => raw("POST", "/peer/migrations/prepare", { headers: { "content-length": String(300 * MiB) } }), 401, "unauthorized");
    await refused(
      () =>
        raw("POST", "/peer/migrations/prepare", {
          headers: { "content-length": String(300 * MiB), "x-ferry-client": "someone", "x-ferry-timestamp": String(Date.now()) },
        }),
      401,
      "unauthorized",
    );
    // Over the node's snapshot cap: refused by its declared length, before anything else.
    await refused(
      () =>
        raw("POST", "/peer/migrations/prepare", { headers: { "content-length": String(maxTransferBytes(DEFAULT_MAX_MEMORY_PAGES) + 1) } }),
      413,
      "payload_too_large",
    );
  });

  it("a module over the client's maxModuleBytes quota: 413 payload_too_large (as implemented, not quota_exceeded)", async () => {
    const big = new Uint8Array(MODULE_QUOTA_BYTES + 1);
    big.set([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    await refused(() => signed(n.key, "POST", "/modules?public=false", big), 413, "payload_too_large");
  });

  it("a module over the runtime's export limit: 413 module_limit", async () => {
    await refused(() => signed(n.key, "POST", "/modules?public=false", manyExports(10_001)), 413, "module_limit");
  });
});

describe("invalid Wasm: 422, nothing stored", () => {
  it.each([
    { what: "not Wasm at all", bytes: new TextEncoder().encode("#!/bin/sh\nrm -rf /\n"), code: "not_wasm" },
    { what: "a Wasm header and garbage", bytes: new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 99, 99]), code: "invalid_wasm" },
    { what: "a component, not a core module", bytes: new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]), code: "not_wasm" },
    {
      what: "an import no host interface provides",
      bytes: wat(`(module (import "wasi_snapshot_preview1" "sock_open" (func (param i32) (result i32))) (func (export "main")))`),
      code: "import_not_allowed",
    },
  ])("$what → $code", async ({ bytes, code }) => {
    await refused(() => signed(n.key, "POST", "/modules?public=true", bytes), 422, code);
  });
});

describe("signatures: 401, nothing stored", () => {
  // A module the node does not have yet, so a wrongly accepted upload would show as a new row.
  const fresh = wat(`(module (func (export "main") (result i32) (i32.const 1234)))`);
  const differentBody = wat(`(module (func (export "main") (result i32) (i32.const 4321)))`);

  it("missing: some signing headers but not all", async () => {
    const h = signRequest(n.key, { method: "POST", path: "/modules?public=true", body: fresh });
    const partial = { "x-ferry-client": h["x-ferry-client"], "x-ferry-timestamp": h["x-ferry-timestamp"] };
    await refused(() => send("POST", "/modules?public=true", { body: fresh, headers: partial }), 401, "unauthorized");
    await refused(() => send("POST", "/modules?public=true", { body: fresh }), 401, "unauthorized"); // upload needs a client
  });

  it("malformed or wrong: a garbage signature, another key's signature, an unknown or disabled client", async () => {
    const h = signRequest(n.key, { method: "POST", path: "/modules?public=true", body: fresh });
    await refused(
      () => send("POST", "/modules?public=true", { body: fresh, headers: { ...h, "x-ferry-signature": "not-a-signature" } }),
      401,
      "unauthorized",
    );
    const forged = signRequest(
      { clientId: n.key.clientId, privateKey: generateSigningKey().privateKey },
      { method: "POST", path: "/modules?public=true", body: fresh },
    );
    await refused(() => send("POST", "/modules?public=true", { body: fresh, headers: { ...forged } }), 401, "unauthorized");
    await refused(() => signed(generateSigningKey(), "POST", "/modules?public=true", fresh), 401, "unauthorized");
    const disabledKey = generateSigningKey();
    const record = n.running.store.clients.add({ publicKey: disabledKey.publicKey });
    n.running.store.clients.setDisabled(record.id, true);
    await refused(() => signed(disabledKey, "POST", "/modules?public=true", fresh), 401, "unauthorized");
  });

  it("expired: a timestamp more than five minutes off, either way", async () => {
    await refused(() => signed(n.key, "POST", "/modules?public=true", fresh, { now: Date.now() - 6 * 60_000 }), 401, "unauthorized");
    await refused(() => signed(n.key, "POST", "/modules?public=true", fresh, { now: Date.now() + 6 * 60_000 }), 401, "unauthorized");
  });

  it("replayed: the exact headers of a request that succeeded start nothing the second time", async () => {
    const body = json({ codeHash: publicHash, sandbox: "in-process", waitMs: 10_000 });
    const headers = { ...signRequest(n.key, { method: "POST", path: "/jobs", body }), "content-type": "application/json" };
    const first = await send("POST", "/jobs", { body, headers });
    expect(first.status).toBe(201);
    expect(JSON.parse(first.body)).toMatchObject({ state: "done", result: { value: 42 } });
    await refused(() => send("POST", "/jobs", { body, headers }), 401, "unauthorized");
  });

  it("signed over a different body, path, query or method", async () => {
    await refused(() => signed(n.key, "POST", "/modules?public=true", fresh, { body: differentBody }), 401, "unauthorized");
    await refused(() => signed(n.key, "POST", "/modules?public=true", fresh, { path: "/modules?public=false" }), 401, "unauthorized");
    await refused(() => signed(n.key, "POST", "/modules?public=true", fresh, { path: "/jobs" }), 401, "unauthorized");
    const job = JSON.parse(
      (await signed(n.key, "POST", "/jobs", json({ codeHash: spinHash, entry: "spin", sandbox: "in-process" }))).body,
    ) as { id: string };
    // A GET of the job, replayed as a DELETE, must not cancel it.
    await refused(() => signed(n.key, "DELETE", `/jobs/${job.id}`, undefined, { method: "GET" }), 401, "unauthorized");
    expect(JSON.parse((await signed(n.key, "GET", `/jobs/${job.id}`)).body)).toMatchObject({ state: "running" });
    expect((await signed(n.key, "DELETE", `/jobs/${job.id}`)).status).toBe(200);
  });
});

describe("forbidden: other callers' modules and jobs", () => {
  it("an anonymous job on a private module: 404 not_found (its existence is not revealed)", async () => {
    await refused(
      () => send("POST", "/jobs", { body: json({ codeHash: privateHash, args: [10] }), headers: { "content-type": "application/json" } }),
      404,
      "not_found",
    );
    await refused(() => send("GET", `/modules/${privateHash}`), 404, "not_found");
  });

  it("an anonymous isolated job, even on a public module: 403 forbidden", async () => {
    await refused(() => send("POST", "/jobs", { body: json({ codeHash: publicHash, sandbox: "isolated" }) }), 403, "forbidden");
  });

  it("another client's private module and job: 404 for every route", async () => {
    await refused(
      () => other.request("POST", "/jobs", json({ codeHash: privateHash, args: [10] })).then(answer, (e: unknown) => fromHttpError(e)),
      404,
      "not_found",
    );
    await refused(() => other.request("GET", `/modules/${privateHash}`).then(answer, fromHttpError), 404, "not_found");
    const job = JSON.parse(
      (await signed(n.key, "POST", "/jobs", json({ codeHash: spinHash, entry: "spin", sandbox: "in-process" }))).body,
    ) as { id: string };
    for (const [method, path] of [
      ["GET", `/jobs/${job.id}`],
      ["GET", `/jobs/${job.id}/output`],
      ["GET", `/jobs/${job.id}/snapshot`],
      ["GET", `/jobs/${job.id}/events`],
      ["POST", `/jobs/${job.id}/pause`],
      ["POST", `/jobs/${job.id}/resume`],
      ["DELETE", `/jobs/${job.id}`],
    ] as const) {
      await refused(() => other.request(method, path).then(answer, fromHttpError), 404, "not_found");
      await refused(() => send(method, path), 404, "not_found");
    }
    await refused(
      () => other.request("POST", `/jobs/${job.id}/migrate`, json({ peer: peerKey.clientId })).then(answer, fromHttpError),
      404,
      "not_found",
    );
    expect(JSON.parse((await signed(n.key, "GET", `/jobs/${job.id}`)).body)).toMatchObject({ state: "running" });
    expect((await signed(n.key, "DELETE", `/jobs/${job.id}`)).status).toBe(200);
  });
});

/** FerryClient throws HttpError for non-2xx: turn it back into an Answer. */
function fromHttpError(e: unknown): Answer {
  const err = e as { status?: number; code?: string; message?: string };
  if (typeof err.status !== "number") throw e;
  return { status: err.status, code: err.code, body: err.message ?? "" };
}

describe("quotas: 403 quota_exceeded", () => {
  it("a third unfinished job past maxConcurrentJobs = 2, and a fuelLimit over maxFuelPerJob", async () => {
    const start = (): Promise<Answer> => signed(n.key, "POST", "/jobs", json({ codeHash: spinHash, entry: "spin", sandbox: "in-process" }));
    const a = await start();
    const b = await start();
    expect([a.status, b.status]).toEqual([201, 201]);
    await refused(start, 403, "quota_exceeded");
    for (const j of [a, b]) expect((await signed(n.key, "DELETE", `/jobs/${(JSON.parse(j.body) as { id: string }).id}`)).status).toBe(200);
    await refused(
      () => signed(n.key, "POST", "/jobs", json({ codeHash: publicHash, fuelLimit: MAX_FUEL_PER_JOB + 1 })),
      403,
      "quota_exceeded",
    );
  });
});

describe("unknown ids and malformed requests", () => {
  it.each([
    ["GET", "/jobs/no-such-job"],
    ["GET", "/jobs/no-such-job/output"],
    ["GET", "/jobs/no-such-job/snapshot"],
    ["GET", "/jobs/no-such-job/events"],
    ["POST", "/jobs/no-such-job/pause"],
    ["POST", "/jobs/no-such-job/resume"],
    ["DELETE", "/jobs/no-such-job"],
    ["GET", `/modules/${"0".repeat(64)}`],
    ["GET", "/no/such/route"],
  ])("%s %s → 404 not_found", async (method, path) => {
    await refused(() => send(method, path), 404, "not_found");
  });

  it("a job on an unknown module: 404 not_found; an unknown entry: 404 entry_not_found", async () => {
    await refused(() => send("POST", "/jobs", { body: json({ codeHash: "f".repeat(64) }) }), 404, "not_found");
    await refused(() => send("POST", "/jobs", { body: json({ codeHash: publicHash, entry: "nope" }) }), 404, "entry_not_found");
  });

  it.each([
    ["truncated JSON", "{"],
    ["a JSON array", "[]"],
    ["a JSON string", '"main"'],
    ["an empty body", ""],
    ["bytes that are not UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
    ["a short codeHash", json({ codeHash: "abc" })],
    ["an uppercase codeHash", json({ codeHash: "A".repeat(64) })],
    ["an object argument", json({ codeHash: "a".repeat(64), args: [{}] })],
    ["more arguments than any entry takes", json({ codeHash: "a".repeat(64), args: Array.from({ length: MAX_ENTRY_ARGS + 1 }, () => 1) })],
    ["a negative waitMs", json({ codeHash: "a".repeat(64), waitMs: -1 })],
    ["a fractional fuelLimit", json({ codeHash: "a".repeat(64), fuelLimit: 1.5 })],
    ["an unknown sandbox", json({ codeHash: "a".repeat(64), sandbox: "none" })],
    ["input that is not base64", json({ codeHash: "a".repeat(64), input: "@@@" })],
    ["an unknown field", json({ codeHash: "a".repeat(64), trust: "authenticated" })],
    ["__proto__ smuggling", `{"codeHash":"${"a".repeat(64)}","__proto__":{"sandbox":"isolated"}}`],
  ])("POST /jobs with %s → 400 bad_request", async (_what, body) => {
    await refused(() => send("POST", "/jobs", { body, headers: { "content-type": "application/json" } }), 400, "bad_request");
  });

  it("wrong argument count → 400 invalid_arguments; ?public=maybe on upload → 400 bad_request", async () => {
    await refused(() => send("POST", "/jobs", { body: json({ codeHash: publicHash, args: [1] }) }), 400, "invalid_arguments");
    const fresh = wat(`(module (func (export "main") (result i32) (i32.const 77)))`);
    await refused(() => signed(n.key, "POST", "/modules?public=maybe", fresh), 400, "bad_request");
  });
});

describe("path traversal in ids and hashes", () => {
  it.each([
    ["GET", "/modules/..%2F..%2Fferry.db", 404, "not_found"],
    ["GET", "/modules/%2e%2e%2f%2e%2e%2fnode-key.json", 404, "not_found"],
    ["GET", "/modules/..%5C..%5Cferry.db", 404, "not_found"],
    ["GET", "/jobs/..%2F..%2Fferry.db", 404, "not_found"],
    ["GET", "/jobs/..%2F..%2Fferry.db/output", 404, "not_found"],
    ["GET", "/jobs/%2e%2e%2fnode-key.json/snapshot", 404, "not_found"],
    ["GET", "/modules/../../ferry.db", 404, "not_found"],
    ["GET", "/jobs/../node-key.json", 404, "not_found"],
  ])("%s %s (raw) → %i %s, and no file content", async (method, path, status, code) => {
    const a = await refused(() => raw(method, path), status, code);
    expect(a.body).not.toContain("SQLite format 3");
    expect(a.body).not.toContain("PRIVATE KEY");
  });

  it("a codeHash that is a path: 400 bad_request", async () => {
    await refused(() => send("POST", "/jobs", { body: json({ codeHash: "../../../../etc/passwd" }) }), 400, "bad_request");
  });

  it("a peer asking for a module by a path instead of a hash: 404 not_found, and no file content", async () => {
    for (const path of ["/peer/modules/..%2F..%2Fferry.db", "/peer/modules/..%2Fnode-key.json"]) {
      const a = await refused(() => raw("GET", path, { headers: signRequest(peerKey, { method: "GET", path }) }), 404, "not_found");
      expect(a.body).not.toContain("SQLite format 3");
      expect(a.body).not.toContain("PRIVATE KEY");
    }
  });
});

/** A PREPARE as a peer sends it: the transfer header travels base64url in a header; the signature covers it and the body. */
function prepareRequest(
  key: Pick<SigningKey, "clientId" | "privateKey"> | undefined,
  header: TransferHeader,
  body: Uint8Array,
): Promise<Answer> {
  const path = "/peer/migrations/prepare";
  const transfer = encodeTransferHeader(header);
  const auth = key ? signRequest(key, { method: "POST", path, body, transfer: transfer.text }) : {};
  return send("POST", path, { body, headers: { ...auth, [TRANSFER_HEADER]: transfer.text, "content-type": "application/octet-stream" } });
}

/** A well-formed strong transfer of job `jobId` from the test's peer to the node, for the module spinHash. */
function transferHeader(snapshot: Uint8Array, overrides: Partial<TransferHeader> = {}): TransferHeader {
  return {
    baseHash: null,
    v: TRANSFER_VERSION,
    kind: "strong",
    jobId: `tampered-${Math.random().toString(36).slice(2)}`,
    epoch: 1,
    source: peerKey.clientId,
    target: n.running.identity.nodeId,
    codeHash: spinHash,
    entry: "spin",
    args: [],
    owner: null,
    trust: "anonymous",
    sandbox: "in-process",
    fuelLimit: null,
    fuelUsed: 0,
    snapshotSha256: snapshotDigest(snapshot),
    input: null,
    grant: null,
    ...overrides,
  };
}

describe("/peer routes: only configured peers", () => {
  const routes = (): Array<[string, string, string | undefined]> => [
    ["POST", "/peer/migrations/commit", json({ jobId: "x", epoch: 1 })],
    ["POST", "/peer/migrations/abort", json({ jobId: "x", epoch: 1 })],
    ["GET", "/peer/migrations/x/decision?epoch=1", undefined],
    ["POST", "/peer/hello", json({ url: "http://attacker.invalid" })],
    ["GET", `/peer/modules/${privateHash}`, undefined],
  ];

  // A PREPARE that is well-formed in every way but its signature.
  const offer = (): [TransferHeader, Uint8Array] => {
    const body = new Uint8Array(64).fill(7);
    return [transferHeader(body), body];
  };

  it("unsigned: 401 unauthorized on every /peer route", async () => {
    for (const [method, path, body] of routes())
      await refused(() => send(method, path, body === undefined ? {} : { body }), 401, "unauthorized");
    await refused(() => prepareRequest(undefined, ...offer()), 401, "unauthorized");
  });

  it("signed by a registered client (not a peer): 401 unauthorized; the peer's address is unchanged", async () => {
    const before = n.running.store.peers.get(peerKey.clientId)?.url;
    for (const [method, path, body] of routes()) await refused(() => signed(n.key, method, path, body), 401, "unauthorized");
    await refused(() => prepareRequest(n.key, ...offer()), 401, "unauthorized");
    expect(n.running.store.peers.get(peerKey.clientId)?.url).toBe(before);
  });

  it("a peer's request replayed: 401 unauthorized", async () => {
    const path = "/peer/migrations/x/decision?epoch=1";
    const headers = signRequest(peerKey, { method: "GET", path });
    expect((await send("GET", path, { headers: { ...headers } })).status).toBe(200);
    await refused(() => send("GET", path, { headers: { ...headers } }), 401, "unauthorized");
  });
});

describe("PREPARE with a tampered snapshot: refused, nothing stored", () => {
  let snapshot: Snapshot;
  let sealed: Uint8Array;

  beforeAll(async () => {
    // The very module the node holds as spinHash, paused mid-loop by a local engine.
    const engine = new Engine();
    const module = await engine.compile(INFINITE_LOOP);
    expect(module.codeHash).toBe(spinHash);
    const i = await engine.instantiate(module);
    expect(await i.run("spin", [], { fuel: 1000 })).toMatchObject({ status: "paused" });
    snapshot = await i.snapshot();
    sealed = encodeSnapshot(snapshot);
  });

  /**
   * Signed by the peer, with a header naming exactly this body's digest, and granted by the job's owner
   * (whose private module the node holds): only the body's contents lie.
   */
  const prepare = (body: Uint8Array, overrides: Partial<TransferHeader> = {}): Promise<Answer> => {
    const h = transferHeader(body, { owner: n.key.clientId, trust: "authenticated", ...overrides });
    const grant = signGrant(n.key, { job: h.jobId, source: peerKey.clientId, target: n.running.identity.nodeId });
    return prepareRequest(peerKey, { ...h, grant: overrides.grant ?? grant }, body);
  };

  it("a flipped bit under the seal: 422 snapshot_corrupt", async () => {
    const flipped = sealed.slice();
    flipped[Math.floor(flipped.byteLength / 2)]! ^= 0x10;
    await refused(() => prepare(flipped), 422, "snapshot_corrupt");
  });

  it("a cut-off snapshot: 422 snapshot_truncated", async () => {
    await refused(() => prepare(sealed.subarray(0, sealed.byteLength - 100)), 422, "snapshot_truncated");
  });

  it("another snapshot than the signed header names: 400 bad_request", async () => {
    const other = encodeSnapshot({ ...snapshot, output: new Uint8Array([1]) });
    await refused(() => prepareRequest(peerKey, transferHeader(sealed), other), 400, "bad_request");
  });

  it("a snapshot of another module than the transfer names: 400 bad_request", async () => {
    await refused(() => prepare(sealed, { codeHash: publicHash }), 400, "bad_request");
  });

  it("a transfer claiming to come from another node than the signer: 403 forbidden", async () => {
    await refused(() => prepare(sealed, { source: n.key.clientId }), 403, "forbidden");
  });

  it("resealed, with a saved stack longer than the continuation buffer: 413 snapshot_limit", async () => {
    const { header: h, stack } = decodeImage(snapshot.continuation);
    const longer = new Uint8Array(300 * 1024);
    longer.set(stack);
    await refused(
      () => prepare(encodeSnapshot({ ...snapshot, continuation: encodeImage(h, longer, longer.byteLength) })),
      413,
      "snapshot_limit",
    );
  });

  it("resealed, with a continuation that is not one: 422 snapshot_malformed", async () => {
    await refused(() => prepare(encodeSnapshot({ ...snapshot, continuation: new Uint8Array(40) })), 422, "snapshot_malformed");
  });

  it("resealed, with a memory larger than this node's cap for the job: 413 snapshot_limit, before inflating it", async () => {
    // Anonymous jobs get 256 pages (16 MiB) here; one page stored, 4,096 declared.
    const page = new Uint8Array(65_536).fill(1);
    await refused(
      () => prepare(encodeSnapshot({ ...snapshot, memory: { pageCount: 4096, pages: [{ index: 4095, bytes: page }] } })),
      413,
      "snapshot_limit",
    );
  });

  it("control: the honest snapshot is prepared (so the refusals above are about the tampering), then aborted", async () => {
    // The module's owner grants the move, so the node need not fetch the (private) code from the peer.
    const jobId = `honest-${Math.random().toString(36).slice(2)}`;
    const grant = signGrant(n.key, { job: jobId, source: peerKey.clientId, target: n.running.identity.nodeId });
    const h = transferHeader(sealed, { jobId, owner: n.key.clientId, trust: "authenticated", grant });
    const ok = await prepareRequest(peerKey, h, sealed);
    expect({ status: ok.status, body: JSON.parse(ok.body) as unknown }).toEqual({ status: 200, body: { prepared: true, epoch: 1 } });
    const aborted = await signed(peerKey, "POST", "/peer/migrations/abort", json({ jobId: h.jobId, epoch: 1 }));
    expect(JSON.parse(aborted.body)).toEqual({ aborted: true });
    expect(n.running.store.jobs.get(h.jobId)).toBeUndefined();
  });
});

describe("PRE-COPY rounds: each delta needs the base it names", () => {
  let snapshot: Snapshot;
  let sealed: Uint8Array;
  beforeAll(async () => {
    const engine = new Engine();
    const i = await engine.instantiate(await engine.compile(INFINITE_LOOP));
    expect(await i.run("spin", [], { fuel: 1000 })).toMatchObject({ status: "paused" });
    snapshot = await i.snapshot();
    sealed = encodeSnapshot(snapshot);
  });

  function precopyRequest(header: TransferHeader, body: Uint8Array): Promise<Answer> {
    const path = "/peer/migrations/precopy";
    const transfer = encodeTransferHeader(header);
    return send("POST", path, {
      body,
      headers: {
        ...signRequest(peerKey, { method: "POST", path, body, transfer: transfer.text }),
        [TRANSFER_HEADER]: transfer.text,
        "content-type": "application/octet-stream",
      },
    });
  }
  const round = (jobId: string, body: Uint8Array, baseHash: string | null) =>
    precopyRequest(transferHeader(body, { jobId, kind: "base", baseHash }), body);
  const baseOf = async (a: Promise<Answer>): Promise<string> => {
    const r = await a;
    expect(r.status).toBe(200);
    return (JSON.parse(r.body) as { baseHash: string }).baseHash;
  };

  it("a round naming a base this node never stored: 409 conflict, nothing stored", async () => {
    await refused(() => round("precopy-unknown", sealed, "ab".repeat(32)), 409, "conflict");
  });

  it("a round whose delta would shrink the base's memory: 422 snapshot_malformed, nothing stored", async () => {
    const base = await baseOf(round("precopy-shrink", sealed, null));
    const shrunk = encodeSnapshot({ ...snapshot, memory: { pageCount: 0, pages: [] } });
    await refused(() => round("precopy-shrink", shrunk, base), 422, "snapshot_malformed");
  });

  it("a round naming a superseded base: 409 conflict (only the newest counts)", async () => {
    const first = await baseOf(round("precopy-old", sealed, null));
    const changed = encodeSnapshot({ ...snapshot, output: new Uint8Array([7]) });
    await baseOf(round("precopy-old", changed, first));
    await refused(() => round("precopy-old", sealed, first), 409, "conflict");
  });

  it("more than 16 rounds for one job and epoch: 409 conflict", async () => {
    let base = await baseOf(round("precopy-many", sealed, null));
    for (let k = 1; k < 16; k++)
      base = await baseOf(round("precopy-many", encodeSnapshot({ ...snapshot, output: new Uint8Array([k]) }), base));
    await refused(() => round("precopy-many", encodeSnapshot({ ...snapshot, output: new Uint8Array([99]) }), base), 409, "conflict");
  });
});

describe("after all of it", () => {
  it("the node still runs jobs for anonymous callers and clients alike", async () => {
    const anonymous = await n.anonymous.startJob({ codeHash: publicHash, waitMs: 10_000 });
    expect(anonymous).toMatchObject({ state: "done", result: { status: "done", value: 42 } });
    const mine = await n.client.startJob({ codeHash: privateHash, args: [100], sandbox: "in-process", waitMs: 10_000 });
    expect(mine).toMatchObject({ state: "done", result: { status: "done", value: 1000 + 5050 + 144 } });
  });
});
