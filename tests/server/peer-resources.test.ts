// Global references between two real nodes on loopback (real HTTP, real signing, real SQLite): a pin
// at the home node A for the client's directory, and from B a PeerDirectory that writes, reads,
// lists, renames and stats in it; the bytes land in A's client directory. A stopped, A restarted,
// the pin released.
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { applyTree, captureTree, FsError, MemoryDirectory } from "../../runtime/index.js";
import { PeerDirectory } from "../../server/peers/peer-directory.js";
import { startTestNode } from "../helpers/node.js";
import { pinAt, pinPair, proxyOf, type PinPair } from "../helpers/pins.js";
import { until } from "../helpers/until.js";
import { rejectedErrno } from "../helpers/errors.js";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function pair(capabilities?: string[]): Promise<PinPair> {
  const p = await pinPair(capabilities);
  cleanup.push(() => p.close());
  return p;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("a global reference from B to a directory pinned at A", () => {
  it("writes, reads back, lists, renames and stats; the bytes land in A's client directory", async () => {
    const { a, b, key } = await pair();
    const pin = pinAt(a, b);
    expect(pin).toMatchObject({ owner: key.clientId, dir: "reports", access: "rw", peer: b.running.identity.nodeId, lastSeq: 0 });
    expect(a.running.node.pins.list({ jobId: "job-1" }).map((p) => p.id)).toEqual([pin.id]);
    const dir = proxyOf(b, a, pin);
    expect(dir).toBeInstanceOf(PeerDirectory);

    await dir.mkdir("2024");
    const file = await dir.openFile("2024/q1.txt", { create: true, write: true });
    expect(await file.write(text("hello from B\n"), 0)).toBe(13);
    expect(await file.write(text("second line\n"), 13)).toBe(12);
    await file.sync();
    const into = new Uint8Array(64);
    const n = await file.read(into, 0);
    expect(new TextDecoder().decode(into.subarray(0, n))).toBe("hello from B\nsecond line\n");
    expect((await file.stat()).size).toBe(25);
    await file.close();
    await file.close(); // once is enough: the second is not sent

    const home = join(a.dataDir, "resources", key.clientId, "reports");
    expect(readFileSync(join(home, "2024", "q1.txt"), "utf8")).toBe("hello from B\nsecond line\n");
    expect((await dir.list("")).map((e) => [e.name, e.type])).toEqual([["2024", "directory"]]);
    await dir.rename("2024/q1.txt", "2024/Q1.txt");
    expect(existsSync(join(home, "2024", "q1.txt"))).toBe(false);
    expect(readFileSync(join(home, "2024", "Q1.txt"), "utf8")).toBe("hello from B\nsecond line\n");
    const st = await dir.stat("2024/Q1.txt");
    expect(st).toMatchObject({ type: "file", size: 25 });
    expect(typeof st.mtimeNs).toBe("bigint");
    // The home node's FsErrors come back as they were raised there.
    expect(await rejectedErrno(dir.stat("nothing-here"))).toBe("ENOENT");
    expect(await rejectedErrno(dir.mkdir("2024"))).toBe("EEXIST");
    expect(await rejectedErrno(dir.rmdir("2024"))).toBe("ENOTEMPTY");
    await dir.unlink("2024/Q1.txt");
    await dir.rmdir("2024");
    expect(await dir.list("")).toEqual([]);
    // The routes are described.
    const openapi = (await (await fetch(`${a.running.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(openapi.paths["/peer/resources/{pin}"]!).sort()).toEqual(["get", "post"]);
    expect(openapi.paths["/peer/resources/{pin}/release"]).toHaveProperty("post");
    // Every call was numbered, once each.
    expect(a.running.node.pins.get(pin.id)!.lastSeq).toBeGreaterThan(15);
  });

  it("reads and writes megabytes through the pin (1 MiB a call; throughput printed, not asserted)", async () => {
    const { a, b, key } = await pair();
    const dir = proxyOf(b, a, pinAt(a, b));
    const MiB = 1024 * 1024;
    const data = new Uint8Array(8 * MiB).map((_, i) => (i * 7 + (i >> 12)) & 0xff);
    const file = await dir.openFile("big.bin", { create: true, write: true, truncate: true });
    const started = performance.now();
    // A write of more than 1 MiB is a short write, as POSIX allows: the caller writes the rest.
    let written = 0;
    while (written < data.byteLength) written += await file.write(data.subarray(written), written);
    const wrote = performance.now();
    const back = new Uint8Array(data.byteLength);
    let read = 0;
    for (;;) {
      const n = await file.read(back.subarray(read), read);
      if (n === 0) break;
      read += n;
    }
    const done = performance.now();
    await file.close();
    expect(read).toBe(data.byteLength);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    expect(readFileSync(join(a.dataDir, "resources", key.clientId, "reports", "big.bin")).equals(Buffer.from(data))).toBe(true);
    const mbps = (ms: number) => (8 / (ms / 1000)).toFixed(0);
    console.log(
      `global reference over loopback: write ${mbps(wrote - started)} MiB/s, read ${mbps(done - wrote)} MiB/s (8 MiB, 1 MiB a call)`,
    );
  });

  it("carries a tree through the pin (tree-transfer over the PeerDirectory): the same manifest at both ends", async () => {
    const { a, b } = await pair();
    const dir = proxyOf(b, a, pinAt(a, b));
    const source = new MemoryDirectory();
    source.mkdir("src");
    for (const [name, body] of [
      ["src/a.txt", "alpha"],
      ["src/b.bin", "b".repeat(200_000)],
      ["top", ""],
    ] as const) {
      const f = source.openFile(name, { create: true, write: true });
      f.write(text(body), 0);
      f.close();
    }
    const captured = await captureTree(source);
    await applyTree(dir, captured.manifest, (sha) => captured.blobs.get(sha));
    const there = await captureTree(dir);
    expect(there.manifest).toEqual(captured.manifest);
  });

  it("a read-only pin refuses changes (EROFS) and still reads", async () => {
    const { a, b } = await pair(["reports/*:r"]);
    const pin = pinAt(a, b, "reports", "r");
    const dir = proxyOf(b, a, pin);
    expect(dir.readOnly).toBe(true);
    expect(await rejectedErrno(dir.mkdir("x"))).toBe("EROFS");
    expect(await rejectedErrno(dir.openFile("f", { create: true, write: true }))).toBe("EROFS");
    expect(await dir.list("")).toEqual([]);
  });

  it("at the home node, the same reference is the pinned directory itself (a job come back uses it locally)", async () => {
    const { a, b, key } = await pair();
    const pin = pinAt(a, b);
    const local = a.running.node.pins.reference({ home: a.running.identity.nodeId, pin: pin.id, access: "rw" });
    expect(local).not.toBeInstanceOf(PeerDirectory);
    await local.mkdir("here"); // the pinned directory, served off the event loop

    expect(existsSync(join(a.dataDir, "resources", key.clientId, "reports", "here"))).toBe(true);
    expect(a.running.node.pins.release(pin.id)).toBe(true);
    expect(a.running.node.pins.list()).toEqual([]);
  });

  it("refuses pins the owner may not have, of directories that climb out, for peers it does not know", async () => {
    const { a, b, key } = await pair(["reports/*:r", "exact:rw"]);
    const peer = b.running.identity.nodeId;
    const create = (dir: string, access: "r" | "rw" = "r", p = peer) => {
      try {
        a.running.node.pins.create({ jobId: "j", owner: key.clientId, dir, access, peer: p });
        return "created";
      } catch (e) {
        return (e as { code: string }).code;
      }
    };
    expect(create("reports", "rw")).toBe("forbidden");
    expect(create("exact", "rw")).toBe("forbidden"); // an exact grant names a resource, not a tree
    expect(create("other")).toBe("forbidden");
    expect(create("../x")).toBe("bad_request");
    expect(create("/etc")).toBe("bad_request");
    expect(create("reports/./a")).toBe("bad_request");
    expect(create("")).toBe("bad_request");
    expect(create("reports", "r", "no-such-node")).toBe("not_found");
    expect(create("reports")).toBe("created");
  });
});

/** An HTTP relay to `target` that passes each request on, but cuts the connection instead of relaying the answer of those `drop` picks. */
async function lossyRelay(target: string, drop: (n: number) => boolean): Promise<{ url: string; passed: () => number }> {
  let n = 0;
  const relay = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const index = n++;
      const headers = { ...req.headers };
      delete headers.host;
      const out = http.request(new URL(req.url!, target), { method: req.method, headers }, (answer) => {
        const body: Buffer[] = [];
        answer.on("data", (c: Buffer) => body.push(c));
        answer.on("end", () => {
          if (drop(index)) return void res.socket?.destroy(); // the call ran at the home node; its answer is lost
          res.writeHead(answer.statusCode ?? 500, answer.headers);
          res.end(Buffer.concat(body));
        });
      });
      out.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
  cleanup.push(() => new Promise<void>((r) => relay.close(() => r())));
  relay.on("connection", (socket) => cleanup.push(() => void socket.destroy()));
  return { url: `http://127.0.0.1:${(relay.address() as { port: number }).port}/`, passed: () => n };
}

describe("lost answers", () => {
  it("a call whose answer is lost is sent again under its number and answered from the cache: run once", async () => {
    const { a, b, key } = await pair();
    const pin = pinAt(a, b);
    const home = join(a.dataDir, "resources", key.clientId, "reports");
    const dir = proxyOf(b, a, pin, { deadlineMs: 20_000, attemptTimeoutMs: 5_000 });
    await dir.mkdir("d"); // numbered through A directly: call 1 (after learning the count)
    // From now on every other answer is lost on the way back (the relay's requests 0, 2, 4, ... ).
    const relay = await lossyRelay(a.running.url, (i) => i % 2 === 0);
    b.running.store.peers.upsert({ nodeId: a.running.identity.nodeId, url: relay.url, publicKey: a.running.identity.publicKey });
    const file = await dir.openFile("d/log", { create: true, write: true });
    await dir.rename("d/log", "d/log2"); // a second run would be ENOENT
    await dir.mkdir("e"); // and this EEXIST
    expect(await file.write(text("once"), 0)).toBe(4);
    await file.close();
    expect((await dir.list("d")).map((e) => e.name)).toEqual(["log2"]);
    expect(readFileSync(join(home, "d", "log2"), "utf8")).toBe("once");
    expect(relay.passed()).toBeGreaterThanOrEqual(12); // each of the 6 calls went twice
  });
});

describe("the home node down, slow, restarted; the pin released", () => {
  it("A stopped: B's calls fail with EIO within the deadline, and B keeps running", async () => {
    const { a, b } = await pair();
    const pin = pinAt(a, b);
    const dir = proxyOf(b, a, pin, { deadlineMs: 300, attemptTimeoutMs: 100 });
    await dir.mkdir("before");
    await a.close();
    const failure = await dir.stat("before").catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(FsError);
    expect((failure as FsError).errno).toBe("EIO");
    expect((failure as FsError).message).toMatch(/unreachable/);
    // The next call fails the same way, and B answers its own API all along.
    expect(await rejectedErrno(dir.list(""))).toBe("EIO");
    expect((await fetch(`${b.running.url}/healthz`)).status).toBe(200);
  });

  it("a home node that takes the connection and never answers: EIO at the deadline, never a hang", async () => {
    const { a, b } = await pair();
    const pin = pinAt(a, b);
    const held = new Set<Socket>();
    const silent: Server = createServer((socket) => void held.add(socket)); // accepts, reads nothing, answers nothing
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    cleanup.push(
      () =>
        new Promise<void>((r) => {
          for (const socket of held) socket.destroy();
          silent.close(() => r());
        }),
    );
    const port = (silent.address() as { port: number }).port;
    b.running.store.peers.upsert({
      nodeId: a.running.identity.nodeId,
      url: `http://127.0.0.1:${port}/`,
      publicKey: a.running.identity.publicKey,
    });
    const dir = proxyOf(b, a, pin, { deadlineMs: 400, attemptTimeoutMs: 150 });
    expect(await rejectedErrno(dir.mkdir("x"))).toBe("EIO");
    expect((await fetch(`${b.running.url}/healthz`)).status).toBe(200);
  });

  it("A restarted on its data directory: the pin still works (its sequence number kept), at A's new address", async () => {
    const { a, b, key } = await pair();
    const pin = pinAt(a, b);
    const dir = proxyOf(b, a, pin, { deadlineMs: 20_000 });
    await dir.mkdir("before");
    const lastSeq = a.running.node.pins.get(pin.id)!.lastSeq;
    await a.close();
    const again = await startTestNode({ dataDir: a.dataDir, key });
    cleanup.push(() => again.close());
    // The restarted node announces its new address to B (/peer/hello); B's proxy reads it at every attempt.
    await until(() => b.running.store.peers.get(again.running.identity.nodeId)?.url === new URL(again.running.url).href, "A's hello at B");
    expect(again.running.node.pins.get(pin.id)).toMatchObject({ lastSeq, dir: "reports", peer: b.running.identity.nodeId });
    await dir.mkdir("after");
    expect((await dir.list("")).map((e) => e.name)).toEqual(["after", "before"]);
    expect(existsSync(join(a.dataDir, "resources", key.clientId, "reports", "after"))).toBe(true);
  });

  it("a new proxy for a pin already in use learns the next number from the home node", async () => {
    const { a, b } = await pair();
    const pin = pinAt(a, b);
    await proxyOf(b, a, pin).mkdir("one");
    await proxyOf(b, a, pin).mkdir("two"); // B restarted, say: a fresh proxy, numbering from the home node's count
    expect((await proxyOf(b, a, pin).list("")).map((e) => e.name)).toEqual(["one", "two"]);
  });

  it("release closes the pin's files and drops it: later calls are EBADF (404 at the home node)", async () => {
    const { a, b } = await pair();
    const pin = pinAt(a, b);
    const dir = proxyOf(b, a, pin);
    const file = await dir.openFile("f", { create: true, write: true });
    await file.write(text("x"), 0);
    expect(await b.running.node.pins.releaseAt({ home: a.running.identity.nodeId, pin: pin.id, access: "rw" })).toBe(true);
    expect(a.running.node.pins.get(pin.id)).toBeUndefined();
    expect(await rejectedErrno(dir.list(""))).toBe("EBADF");
    expect(await rejectedErrno(file.write(text("y"), 1))).toBe("EBADF");
  });
});
