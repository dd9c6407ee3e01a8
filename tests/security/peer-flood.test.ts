// Memory and CPU exhaustion through request bodies (issue 8, §3), over real HTTP on loopback: a
// request is authenticated from its head before a byte of its body is read, every route takes only
// the body its message needs, a signed body is checked against its signed length and digest while
// it streams, and large uploads in flight are capped. Ordering, not time: each hostile request sends
// part of the body its head promises and then waits — a node that reads before it authenticates
// never answers it.
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signRequest, type SigningKey } from "../../server/auth/index.js";
import { encodeTransferHeader, maxTransferBytes, TRANSFER_HEADER } from "../../server/migration/transfer-header.js";
import { removeDir, startTestNode, type TestNode } from "../helpers/node.js";
import { fakePeer, garbageSigned, holdUpload, rawExchange, signedFetch, transferFrom, type HeldUpload } from "./peer-helpers.js";
import { until } from "../helpers/until.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const piece = (): Uint8Array => new Uint8Array(64 * KiB).fill(0x5a);

let n: TestNode;
let p1: SigningKey;
let p2: SigningKey;
let db: Database.Database;

beforeAll(async () => {
  // 256 pages: the node's snapshot cap (its largest PREPARE body) is maxTransferBytes(256), about 210 MiB.
  n = await startTestNode({ maxMemoryPages: 256, peerUploads: { max: 3, perSender: 2 }, clientUploads: { max: 3, perSender: 2 } });
  p1 = fakePeer(n);
  p2 = fakePeer(n);
  db = new Database(join(n.dataDir, "ferry.db"), { readonly: true, fileMustExist: true });
});

afterAll(async () => {
  db?.close();
  await n?.close();
  if (n) removeDir(n.dataDir);
});

function rows(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of ["modules", "jobs", "checkpoints", "peers"])
    out[t] = (db.prepare(`SELECT count(*) AS c FROM ${t}`).get() as { c: number }).c;
  return out;
}

const healthy = async (): Promise<number> => (await fetch(`${n.running.url}/healthz`)).status;

/** A PREPARE head that promises `length` bytes of snapshot. */
function prepareHead(headers: Record<string, string>, length: number) {
  const transfer = encodeTransferHeader(transferFrom(p1, n, new Uint8Array(64))).text;
  return {
    method: "POST",
    path: "/peer/migrations/prepare",
    headers: { ...headers, [TRANSFER_HEADER]: transfer, "content-type": "application/octet-stream", "content-length": String(length) },
  };
}

describe("a body is read only after its head is authenticated", () => {
  it("a garbage-signed PREPARE from a configured peer's id, promising 100 MiB: 401 after 64 KiB, connection closed", async () => {
    const before = rows();
    const a = await rawExchange(n.running.url, prepareHead(garbageSigned(p1.clientId, 100 * MiB), 100 * MiB), [piece()]);
    expect({ status: a.status, code: a.code }).toEqual({ status: 401, code: "unauthorized" });
    expect(a.sentWhenAnswered).toBeLessThanOrEqual(64 * KiB);
    expect(a.headers.connection).toBe("close");
    expect(rows()).toEqual(before);
    expect(await healthy()).toBe(200);
  });

  it("the same on a client route: a garbage-signed module upload under a registered client's id", async () => {
    const head = {
      method: "POST",
      path: "/modules?public=false",
      headers: { ...garbageSigned(n.key.clientId, 3 * MiB), "content-length": String(3 * MiB) },
    };
    const a = await rawExchange(n.running.url, head, [piece()]);
    expect({ status: a.status, code: a.code }).toEqual({ status: 401, code: "unauthorized" });
    expect(a.headers.connection).toBe("close");
  });

  it("an unsigned job request is bounded by its route's limit, not read to the end of a huge promise", async () => {
    const head = { method: "POST", path: "/jobs", headers: { "content-type": "application/json", "content-length": String(200 * MiB) } };
    const a = await rawExchange(n.running.url, head, [piece()]);
    expect({ status: a.status, code: a.code }).toEqual({ status: 413, code: "payload_too_large" });
  });

  it("eight hostile uploads at once, each trickling: every one refused at once, /healthz answering throughout", async () => {
    const hostile = Array.from({ length: 8 }, (_, i) =>
      i % 2 === 0
        ? rawExchange(n.running.url, prepareHead(garbageSigned(i % 4 === 0 ? p1.clientId : p2.clientId, 100 * MiB), 100 * MiB), [
            piece(),
            piece(),
          ])
        : rawExchange(
            n.running.url,
            { method: "POST", path: "/modules", headers: { ...garbageSigned(n.key.clientId, 3 * MiB), "content-length": String(3 * MiB) } },
            [piece(), piece()],
          ),
    );
    expect(await healthy()).toBe(200);
    const answers = await Promise.all(hostile);
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(401));
    expect(n.running.uploads.peer.active + n.running.uploads.client.active).toBe(0);
    expect(await healthy()).toBe(200);
  });
});

describe("every route takes only the body its message needs: an oversized declaration is 413 before reading", () => {
  it.each([
    ["POST", "/peer/migrations/commit"],
    ["POST", "/peer/migrations/abort"],
    ["POST", "/peer/hello"],
    ["POST", "/peer/balance/message"],
    ["POST", "/peer/balance/job-in"],
  ])("%s %s, validly signed by a peer, promising 1 MiB", async (method, path) => {
    const headers = {
      ...signRequest(p1, { method, path, bodyDigest: { length: MiB, sha256: "cd".repeat(32) } }),
      "content-length": String(MiB),
    };
    const a = await rawExchange(n.running.url, { method, path, headers }, [piece()]);
    expect({ status: a.status, code: a.code }).toEqual({ status: 413, code: "payload_too_large" });
  });

  it.each([
    ["POST", "/jobs/some-job/pause"],
    ["POST", "/jobs/some-job/resume"],
    ["POST", "/jobs/some-job/migrate"],
    ["DELETE", "/jobs/some-job"],
  ])("%s %s, validly signed by a client, promising 1 MiB", async (method, path) => {
    const headers = {
      ...signRequest(n.key, { method, path, bodyDigest: { length: MiB, sha256: "cd".repeat(32) } }),
      "content-length": String(MiB),
    };
    const a = await rawExchange(n.running.url, { method, path, headers }, [piece()]);
    expect({ status: a.status, code: a.code }).toEqual({ status: 413, code: "payload_too_large" });
  });

  it("a module over the client's own quota (4 MiB), validly signed: 413 before reading", async () => {
    const path = "/modules?public=false";
    const headers = {
      ...signRequest(n.key, { method: "POST", path, bodyDigest: { length: 5 * MiB, sha256: "cd".repeat(32) } }),
      "content-length": String(5 * MiB),
    };
    const a = await rawExchange(n.running.url, { method: "POST", path, headers }, [piece()]);
    expect({ status: a.status, code: a.code }).toEqual({ status: 413, code: "payload_too_large" });
  });

  it("a PREPARE over this node's snapshot cap, validly signed: 413 before reading", async () => {
    const transfer = encodeTransferHeader(transferFrom(p1, n, new Uint8Array(64))).text;
    const path = "/peer/migrations/prepare";
    const headers = {
      ...signRequest(p1, { method: "POST", path, bodyDigest: { length: maxTransferBytes(256) + 1, sha256: "cd".repeat(32) }, transfer }),
      [TRANSFER_HEADER]: transfer,
      "content-length": String(maxTransferBytes(256) + 1),
    };
    const a = await rawExchange(n.running.url, { method: "POST", path, headers }, [piece()]);
    expect({ status: a.status, code: a.code }).toEqual({ status: 413, code: "payload_too_large" });
  });
});

describe("a signed body is checked against its signed length and digest while it streams", () => {
  it("a body that runs past its signed length (chunked, so no content-length stops it) is cut off at once: 401", async () => {
    const transfer = encodeTransferHeader(transferFrom(p1, n, new Uint8Array(64))).text;
    const path = "/peer/migrations/prepare";
    const headers = {
      ...signRequest(p1, { method: "POST", path, bodyDigest: { length: 1000, sha256: "cd".repeat(32) }, transfer }),
      [TRANSFER_HEADER]: transfer,
      "transfer-encoding": "chunked",
    };
    const data = piece();
    const framed = Buffer.concat([Buffer.from(`${data.byteLength.toString(16)}\r\n`), data, Buffer.from("\r\n")]);
    const a = await rawExchange(n.running.url, { method: "POST", path, headers }, [framed]);
    expect({ status: a.status, code: a.code }).toEqual({ status: 401, code: "unauthorized" });
  });

  it("a body of the signed length but other bytes: 401, nothing stored", async () => {
    const before = rows();
    const signed = new Uint8Array(2000).fill(1);
    const sent = new Uint8Array(2000).fill(2);
    const transfer = encodeTransferHeader(transferFrom(p1, n, signed)).text;
    const path = "/peer/migrations/prepare";
    const headers = { ...signRequest(p1, { method: "POST", path, body: signed, transfer }), [TRANSFER_HEADER]: transfer };
    const a = await fetch(`${n.running.url}${path}`, { method: "POST", headers, body: sent });
    expect(a.status).toBe(401);
    expect(((await a.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    expect(rows()).toEqual(before);
  });

  it("a content-length that differs from the signed length: 400 before reading", async () => {
    const path = "/jobs";
    const headers = {
      ...signRequest(n.key, { method: "POST", path, bodyDigest: { length: 10, sha256: "cd".repeat(32) } }),
      "content-length": String(20 * KiB),
    };
    const a = await rawExchange(n.running.url, { method: "POST", path, headers }, []);
    expect({ status: a.status, code: a.code }).toEqual({ status: 400, code: "bad_request" });
  });

  it("a transfer header swapped under a valid signature: 401 (the signature covers it)", async () => {
    const body = new Uint8Array(100).fill(3);
    const signedFor = encodeTransferHeader(transferFrom(p1, n, body)).text;
    const swapped = encodeTransferHeader(transferFrom(p1, n, body, { epoch: 7 })).text;
    const path = "/peer/migrations/prepare";
    const headers = { ...signRequest(p1, { method: "POST", path, body, transfer: signedFor }), [TRANSFER_HEADER]: swapped };
    const a = await fetch(`${n.running.url}${path}`, { method: "POST", headers, body });
    expect(a.status).toBe(401);
  });
});

describe("large uploads in flight are capped, all together and per sender", () => {
  const held: HeldUpload[] = [];
  const hold = (key: SigningKey, kind: "peer" | "client"): HeldUpload => {
    const length = 8 * MiB;
    if (kind === "client") {
      const path = "/modules?public=false";
      const headers = {
        ...signRequest(key, { method: "POST", path, bodyDigest: { length: 3 * MiB, sha256: "cd".repeat(32) } }),
        "content-length": String(3 * MiB),
      };
      const h = holdUpload(n.running.url, { method: "POST", path, headers }, piece());
      held.push(h);
      return h;
    }
    const transfer = encodeTransferHeader(transferFrom(key, n, new Uint8Array(64))).text;
    const path = "/peer/migrations/prepare";
    const headers = {
      ...signRequest(key, { method: "POST", path, bodyDigest: { length, sha256: "cd".repeat(32) }, transfer }),
      [TRANSFER_HEADER]: transfer,
      "content-length": String(length),
    };
    const h = holdUpload(n.running.url, { method: "POST", path, headers }, piece());
    held.push(h);
    return h;
  };
  const refusedAtOnce = (key: SigningKey, kind: "peer" | "client") => {
    const h = hold(key, kind);
    return h.answered;
  };

  it("a third transfer from one peer: 429; a fourth from another once the node has three: 503; slots come back when uploads end", async () => {
    hold(p1, "peer");
    hold(p1, "peer");
    await until(() => n.running.uploads.peer.active === 2, "two transfers in flight");
    expect(await refusedAtOnce(p1, "peer")).toMatchObject({ status: 429, code: "too_many_requests" });
    hold(p2, "peer");
    await until(() => n.running.uploads.peer.active === 3, "three transfers in flight");
    expect(await refusedAtOnce(p2, "peer")).toMatchObject({ status: 503, code: "overloaded" });
    expect(await healthy()).toBe(200);
    // Small peer messages never wait for an upload slot.
    expect((await signedFetch(n, p2, "GET", "/peer/migrations/x/decision?epoch=1")).status).toBe(200);
    for (const h of held.splice(0)) h.close();
    await until(() => n.running.uploads.peer.active === 0, "the slots to come back");
    hold(p1, "peer");
    await until(() => n.running.uploads.peer.active === 1, "a new transfer admitted");
    for (const h of held.splice(0)) h.close();
    await until(() => n.running.uploads.peer.active === 0, "the slot to come back");
  });

  it("client uploads have caps of their own: a registered client's third large upload at once is 429", async () => {
    hold(n.key, "client");
    hold(n.key, "client");
    await until(() => n.running.uploads.client.active === 2, "two uploads in flight");
    expect(await refusedAtOnce(n.key, "client")).toMatchObject({ status: 429, code: "too_many_requests" });
    // Peers are not held up by clients' uploads.
    expect(n.running.uploads.peer.active).toBe(0);
    for (const h of held.splice(0)) h.close();
    await until(() => n.running.uploads.client.active === 0, "the slots to come back");
  });
});
