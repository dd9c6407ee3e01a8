// Nothing a node answers may tell a caller that someone else's private module or job exists: each
// request about another client's private thing must get exactly the answer (status, code, message
// with the name swapped, /metrics) it gets about a thing that does not exist at all.
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey } from "../../server/auth/index.js";
import { FerryClient, HttpError } from "../../server/client.js";
import { INFINITE_LOOP } from "../helpers/fixtures.js";
import { removeDir, startTestNode, type TestNode } from "../helpers/node.js";
import { wat } from "../helpers/wat.js";

let n: TestNode;
/** Owns the private things. */
let alice: FerryClient;
/** Asks about them. */
let mallory: FerryClient;
let secretHash: string;
let secretJob: string;

/** A module no one has uploaded: the same shape, different bytes each call. */
function freshModule(): Uint8Array {
  return wat(`(module (func (export "main") (result i32) (i32.const ${randomBytes(3).readUIntLE(0, 3)})))`);
}

interface Answer {
  status: number;
  body: unknown;
}

/** Status and JSON body (errors included), with `name` written as NAME so two answers compare. */
async function answer(client: FerryClient, method: string, path: string, name: string, body?: unknown): Promise<Answer> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  let got: Answer;
  try {
    const r = await client.request(method, path, text, text === undefined ? undefined : "application/json");
    got = { status: r.status, body: await r.json() };
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    got = { status: e.status, body: { error: { code: e.code, message: e.message } } };
  }
  return JSON.parse(JSON.stringify(got).replaceAll(name, "NAME")) as Answer;
}

async function uploadAnswer(client: FerryClient, bytes: Uint8Array): Promise<Answer> {
  const r = await client.request("POST", "/modules?public=false", bytes, "application/wasm");
  const body = (await r.json()) as { codeHash: string };
  return JSON.parse(JSON.stringify({ status: r.status, body }).replaceAll(body.codeHash, "NAME")) as Answer;
}

async function uploadsCounted(): Promise<number> {
  const text = await (await fetch(`${n.running.url}/metrics`)).text();
  return Number(/^ferry_modules_uploaded_total\{[^}]*\} (\d+)$/m.exec(text)![1]);
}

beforeAll(async () => {
  n = await startTestNode({ quotas: { maxConcurrentJobs: 4 } });
  alice = n.client;
  const key = generateSigningKey();
  n.running.store.clients.add({ publicKey: key.publicKey, quotas: { maxConcurrentJobs: 4 } });
  mallory = new FerryClient({ url: n.running.url, key });
  secretHash = (await alice.uploadModule(INFINITE_LOOP, { public: false })).codeHash;
  secretJob = (await alice.startJob({ codeHash: secretHash, entry: "spin", sandbox: "in-process" })).id;
});

afterAll(async () => {
  await n?.close();
  if (n) removeDir(n.dataDir);
});

describe("someone else's private module", () => {
  it("uploading its bytes answers exactly as a fresh upload does, and counts the same in /metrics", async () => {
    const before = await uploadsCounted();
    const known = await uploadAnswer(mallory, INFINITE_LOOP);
    const middle = await uploadsCounted();
    const fresh = await uploadAnswer(mallory, freshModule());
    const after = await uploadsCounted();
    expect(known).toEqual(fresh);
    expect(known).toEqual({ status: 201, body: { codeHash: "NAME", created: true } });
    expect(middle - before).toBe(after - middle);
    // Uploading the same bytes again is the caller's own history, and says so.
    expect(await uploadAnswer(mallory, INFINITE_LOOP)).toEqual({ status: 200, body: { codeHash: "NAME", created: false } });
  });

  it("is answered like a module that does not exist, signed or anonymous", async () => {
    const stranger = new FerryClient({
      url: n.running.url,
      key: (() => {
        const k = generateSigningKey();
        n.running.store.clients.add({ publicKey: k.publicKey });
        return k;
      })(),
    });
    const missing = randomBytes(32).toString("hex");
    for (const who of [stranger, n.anonymous]) {
      for (const [method, path, body] of [
        ["GET", "/modules/HASH", undefined],
        ["GET", "/modules?before=HASH", undefined],
        ["POST", "/jobs", { codeHash: "HASH" }],
        ["POST", "/jobs", { codeHash: "HASH", sandbox: "isolated" }],
        ["POST", "/jobs", { codeHash: "HASH", entry: "nope", args: [1, 2] }],
      ] as const) {
        const ask = (hash: string) =>
          answer(who, method, path.replace("HASH", hash), hash, body && JSON.parse(JSON.stringify(body).replace("HASH", hash)));
        const secret = await ask(secretHash);
        expect(secret.status, `${method} ${path}`).toBe(404);
        expect(secret).toEqual(await ask(missing));
      }
    }
  });
});

describe("someone else's job", () => {
  it("is answered like a job that does not exist, on every route", async () => {
    const missing = randomUUID();
    for (const [method, path, body] of [
      ["GET", "/jobs/ID", undefined],
      ["GET", "/jobs/ID/output", undefined],
      ["GET", "/jobs/ID/snapshot", undefined],
      ["GET", "/jobs/ID/events", undefined],
      ["GET", "/jobs?before=ID", undefined],
      ["POST", "/jobs/ID/pause", undefined],
      ["POST", "/jobs/ID/resume", undefined],
      ["POST", "/jobs/ID/migrate", { peer: "somewhere" }],
      ["DELETE", "/jobs/ID", undefined],
    ] as const) {
      const ask = (id: string) => answer(mallory, method, path.replace("ID", id), id, body);
      const secret = await ask(secretJob);
      expect(secret.status, `${method} ${path}`).toBe(404);
      expect(secret).toEqual(await ask(missing));
    }
    // Still alice's, still running: none of that touched it.
    expect(await alice.job(secretJob)).toMatchObject({ state: "running" });
    await alice.cancel(secretJob);
  });
});
