// Attacks on global references (POST /peer/resources/:pin) between real nodes on loopback: the
// wrong signer, a replay, sequence numbers out of order, paths that climb out of the pin's
// directory or into another client's, a revoked capability, oversized and malformed bodies.
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { generateSigningKey } from "../../server/auth/index.js";
import { PEER_RESOURCE_MAX_BODY_BYTES } from "../../server/peers/resource-wire.js";
import { startTestNode, type TestNode } from "../helpers/node.js";
import { asNode, linkPeers, pinAt, pinPair, rawCall, signedRequest, type PinPair } from "../helpers/pins.js";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function pair(capabilities?: string[]): Promise<PinPair> {
  const p = await pinPair(capabilities);
  cleanup.push(() => p.close());
  return p;
}

function homeOf(a: TestNode, clientId = a.key.clientId): string {
  return join(a.dataDir, "resources", clientId, "reports");
}

describe("who may call a pin", () => {
  it("only the pin's peer: a third node is 403, a client's signature 401, an unsigned call 401; nothing runs", async () => {
    const { a, b } = await pair();
    const c = await startTestNode();
    cleanup.push(() => c.close());
    linkPeers(a, b, c);
    const pin = pinAt(a, b);
    const mkdir = { op: "mkdir", args: ["x"] } as const;
    expect(await rawCall(a, asNode(c), pin.id, 1, mkdir)).toMatchObject({ status: 403, code: "forbidden" });
    // /peer routes verify against the peers table: a client key is no peer (401 before any route runs).
    expect(await rawCall(a, a.key, pin.id, 1, mkdir)).toMatchObject({ status: 401, code: "unauthorized" });
    const unsigned = await fetch(`${a.running.url}/peer/resources/${pin.id}`, { method: "POST", body: new Uint8Array(32) });
    expect(unsigned.status).toBe(401);
    expect(await signedRequest(a.running.url, asNode(c), "GET", `/peer/resources/${pin.id}`)).toMatchObject({ status: 403 });
    expect(await signedRequest(a.running.url, asNode(c), "POST", `/peer/resources/${pin.id}/release`)).toMatchObject({ status: 403 });
    expect(existsSync(join(homeOf(a), "x"))).toBe(false);
    expect(a.running.node.pins.get(pin.id)).toMatchObject({ lastSeq: 0 });
    // Unknown pin: 404, for the right peer too; and so is a released one.
    expect(await rawCall(a, asNode(b), "AAAAAAAAAAAAAAAAAAAAAA", 1, mkdir)).toMatchObject({ status: 404, code: "not_found" });
    const released = await signedRequest(a.running.url, asNode(b), "POST", `/peer/resources/${pin.id}/release`);
    expect(released.status).toBe(200);
    expect(JSON.parse(new TextDecoder().decode(released.payload))).toEqual({ released: pin.id });
    expect(await rawCall(a, asNode(b), pin.id, 1, mkdir)).toMatchObject({ status: 404, code: "not_found" });
    expect(await signedRequest(a.running.url, asNode(b), "POST", `/peer/resources/${pin.id}/release`)).toMatchObject({ status: 404 });
  });

  it("a replayed request (same nonce) is refused by auth and runs nothing twice", async () => {
    const { a, b } = await pair();
    const pin = pinAt(a, b);
    mkdirSync(homeOf(a), { recursive: true });
    writeFileSync(join(homeOf(a), "from"), "x");
    const first = await rawCall(a, asNode(b), pin.id, 1, { op: "rename", args: ["from", "to"] });
    expect(first).toMatchObject({ status: 200, value: 0 });
    const body = (await import("../../server/peers/resource-wire.js")).encodeResourceCall({
      seq: 1,
      request: { op: "rename", target: 0, args: ["from", "to"], bytes: new Uint8Array(0) },
    });
    const replay = await signedRequest(a.running.url, asNode(b), "POST", `/peer/resources/${pin.id}`, body, first.headers);
    expect(replay).toMatchObject({ status: 401, code: "unauthorized" });
    expect(new TextDecoder().decode(replay.payload)).toMatch(/replay|nonce/i);
  });

  it("the owner's capability revoked, or the owner disabled: 403, and the call does not run", async () => {
    const { a, b, key } = await pair();
    const pin = pinAt(a, b);
    expect(await rawCall(a, asNode(b), pin.id, 1, { op: "mkdir", args: ["one"] })).toMatchObject({ status: 200, value: 0 });
    // Down to read: reads still pass, changes are refused.
    a.running.store.clients.updateGrants(key.clientId, { capabilities: ["reports/*:r"] });
    expect(await rawCall(a, asNode(b), pin.id, 2, { op: "mkdir", args: ["two"] })).toMatchObject({ status: 403, code: "forbidden" });
    expect(await rawCall(a, asNode(b), pin.id, 2, { op: "openFile", args: ["f", true, false, false, true] })).toMatchObject({
      status: 403,
    });
    expect(await rawCall(a, asNode(b), pin.id, 2, { op: "list", args: [""] })).toMatchObject({ status: 200, value: 0 });
    // Revoked: nothing.
    a.running.store.clients.updateGrants(key.clientId, { capabilities: [] });
    expect(await rawCall(a, asNode(b), pin.id, 3, { op: "list", args: [""] })).toMatchObject({ status: 403, code: "forbidden" });
    a.running.store.clients.updateGrants(key.clientId, { capabilities: ["reports/*:rw"] });
    a.running.store.clients.setDisabled(key.clientId, true);
    expect(await rawCall(a, asNode(b), pin.id, 3, { op: "mkdir", args: ["three"] })).toMatchObject({ status: 403, code: "forbidden" });
    expect(existsSync(join(homeOf(a), "two"))).toBe(false);
    expect(existsSync(join(homeOf(a), "three"))).toBe(false);
    // A refused call claims no number.
    expect(a.running.node.pins.get(pin.id)!.lastSeq).toBe(2);
  });
});

describe("sequence numbers: exactly once per call", () => {
  it("the last number again with the same call gets the cached answer and runs nothing twice; other numbers are 409", async () => {
    const { a, b } = await pair();
    const pin = pinAt(a, b);
    mkdirSync(homeOf(a), { recursive: true });
    writeFileSync(join(homeOf(a), "from"), "x");
    const rename = { op: "rename", args: ["from", "to"] } as const;
    expect(await rawCall(a, asNode(b), pin.id, 1, rename)).toMatchObject({ status: 200, value: 0 });
    // A retry (new signature, same number and body): the first answer again, not ENOENT from a second rename.
    expect(await rawCall(a, asNode(b), pin.id, 1, rename)).toMatchObject({ status: 200, value: 0 });
    expect(readFileSync(join(homeOf(a), "to"), "utf8")).toBe("x");
    const mkdir = { op: "mkdir", args: ["d"] } as const;
    expect(await rawCall(a, asNode(b), pin.id, 2, mkdir)).toMatchObject({ status: 200, value: 0 });
    expect(await rawCall(a, asNode(b), pin.id, 2, mkdir)).toMatchObject({ status: 200, value: 0 }); // not EEXIST
    // The last number with another call, an old one, one ahead, zero: 409 out_of_order, nothing runs.
    expect(await rawCall(a, asNode(b), pin.id, 2, { op: "mkdir", args: ["e"] })).toMatchObject({ status: 409, code: "out_of_order" });
    expect(await rawCall(a, asNode(b), pin.id, 1, rename)).toMatchObject({ status: 409, code: "out_of_order" });
    expect(await rawCall(a, asNode(b), pin.id, 4, { op: "mkdir", args: ["f"] })).toMatchObject({ status: 409, code: "out_of_order" });
    expect(await rawCall(a, asNode(b), pin.id, 0, { op: "mkdir", args: ["g"] })).toMatchObject({ status: 400, code: "bad_request" });
    for (const name of ["e", "f", "g"]) expect(existsSync(join(homeOf(a), name))).toBe(false);
    expect(a.running.node.pins.get(pin.id)!.lastSeq).toBe(2);
    const described = await signedRequest(a.running.url, asNode(b), "GET", `/peer/resources/${pin.id}`);
    expect(JSON.parse(new TextDecoder().decode(described.payload))).toMatchObject({
      pin: pin.id,
      lastSeq: 2,
      dir: "reports",
      access: "rw",
    });
  });

  it("after a restart of the home node, the last number's answer is gone: 409, not a second run", async () => {
    const { a, b, key } = await pair();
    const pin = pinAt(a, b);
    expect(await rawCall(a, asNode(b), pin.id, 1, { op: "mkdir", args: ["d"] })).toMatchObject({ status: 200 });
    await a.close();
    const again = await startTestNode({ dataDir: a.dataDir, key });
    cleanup.push(() => again.close());
    linkPeers(again, b);
    expect(await rawCall(again, asNode(b), pin.id, 1, { op: "mkdir", args: ["d"] })).toMatchObject({ status: 409, code: "out_of_order" });
    expect(await rawCall(again, asNode(b), pin.id, 2, { op: "stat", args: ["d"] })).toMatchObject({ status: 200, value: 0 });
  });
});

describe("paths stay in the pin's directory", () => {
  it("climbing out, absolute, NUL, unnormalized: ENOTCAPABLE (or EINVAL), and nothing outside is touched", async () => {
    const { a, b, key } = await pair(["reports/*:rw", "secrets/*:rw"]);
    const other = join(a.dataDir, "resources", key.clientId, "secrets");
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, "key"), "secret");
    const pin = pinAt(a, b);
    let seq = 0;
    for (const path of ["../secrets/key", "/etc/passwd", "a\0b", "./x", "x/../../secrets/key", "x/", "..", `${a.dataDir}/ferry.db`]) {
      for (const op of ["unlink", "stat", "readlink"] as const) {
        const answer = await rawCall(a, asNode(b), pin.id, ++seq, { op, args: [path] });
        expect(answer.status, `${op} ${JSON.stringify(path)}`).toBe(200);
        expect(["ENOTCAPABLE", "EINVAL"], `${op} ${JSON.stringify(path)}`).toContain(answer.errno);
      }
      const open = await rawCall(a, asNode(b), pin.id, ++seq, { op: "openFile", args: [path, true, false, true, true] });
      expect(["ENOTCAPABLE", "EINVAL"]).toContain(open.errno);
      const rename = await rawCall(a, asNode(b), pin.id, ++seq, { op: "rename", args: ["inside", path] });
      expect(["ENOTCAPABLE", "EINVAL"]).toContain(rename.errno);
    }
    expect(readFileSync(join(other, "key"), "utf8")).toBe("secret");
    expect(existsSync(join(a.dataDir, "ferry.db"))).toBe(true);
  });

  it("a pin of client X cannot reach client Y's directory, by path or by a symlink planted in X's", async () => {
    const { a, b } = await pair();
    const y = generateSigningKey();
    a.running.store.clients.add({ publicKey: y.publicKey, capabilities: ["reports/*:rw"] });
    const yDir = join(a.dataDir, "resources", y.clientId, "reports");
    mkdirSync(yDir, { recursive: true });
    writeFileSync(join(yDir, "private"), "y's");
    const pin = pinAt(a, b); // X's (the pair's client)
    symlinkSync(yDir, join(homeOf(a), "to-y"));
    let seq = 0;
    const call = (op: "stat" | "list" | "unlink" | "openFile", args: unknown[]) => rawCall(a, asNode(b), pin.id, ++seq, { op, args });
    expect((await call("stat", [`../../${y.clientId}/reports/private`])).errno).toBe("ENOTCAPABLE");
    expect((await call("list", ["to-y"])).errno).toMatch(/ENOTCAPABLE|ENOTDIR|ELOOP/);
    expect((await call("unlink", ["to-y/private"])).errno).toMatch(/ENOTCAPABLE|ELOOP/);
    expect((await call("openFile", ["to-y/private", false, false, false, false])).errno).toMatch(/ENOTCAPABLE|ELOOP/);
    expect((await call("stat", ["to-y"])).errno).toBeUndefined(); // the link itself is seen as a link, never followed
    expect(readFileSync(join(yDir, "private"), "utf8")).toBe("y's");
  });

  it("a file handle is the pin's own and is the opening call's number: other numbers are EBADF", async () => {
    const { a, b } = await pair(["reports/*:rw", "other/*:rw"]);
    const mine = pinAt(a, b, "reports");
    const theirs = pinAt(a, b, "other");
    expect(await rawCall(a, asNode(b), theirs.id, 1, { op: "list", args: [""] })).toMatchObject({ status: 200, value: 0 });
    const opened = await rawCall(a, asNode(b), theirs.id, 2, { op: "openFile", args: ["f", true, false, false, true] });
    expect(opened).toMatchObject({ status: 200, value: 2 }); // call 2 opened it (the server's own number is 1)
    const stat = (pin: string, seq: number, target: number) => rawCall(a, asNode(b), pin, seq, { op: "fileStat", target, args: [] });
    expect((await stat(mine.id, 1, 2)).errno).toBe("EBADF"); // another pin's handle
    expect((await rawCall(a, asNode(b), mine.id, 2, { op: "stat", target: 1, args: [""] })).errno).toBe("EBADF"); // no tree 1
    expect((await stat(theirs.id, 3, 1)).errno).toBe("EBADF"); // the server's own number is no handle
    expect((await stat(theirs.id, 4, 2)).value).toBe(0);
    expect((await rawCall(a, asNode(b), theirs.id, 5, { op: "fileClose", target: 2, args: [] })).value).toBe(0);
    expect((await stat(theirs.id, 6, 2)).errno).toBe("EBADF");
  });
});

describe("bodies", () => {
  it("over the limit is 413 before it is read; malformed is 400; neither claims a number", async () => {
    const { a, b } = await pair();
    const pin = pinAt(a, b);
    const huge = new Uint8Array(PEER_RESOURCE_MAX_BODY_BYTES + 1);
    expect(await signedRequest(a.running.url, asNode(b), "POST", `/peer/resources/${pin.id}`, huge)).toMatchObject({
      status: 413,
      code: "payload_too_large",
    });
    for (const body of [new Uint8Array(3), new Uint8Array(16), new Uint8Array(64).fill(0xff)]) {
      expect(await signedRequest(a.running.url, asNode(b), "POST", `/peer/resources/${pin.id}`, body)).toMatchObject({
        status: 400,
        code: "bad_request",
      });
    }
    // A write's data on an operation that carries none, and arguments of the wrong shape.
    const bad = await rawCall(a, asNode(b), pin.id, 1, { op: "mkdir", args: ["x"], bytes: new Uint8Array(4) });
    expect(bad).toMatchObject({ status: 400 });
    expect(await rawCall(a, asNode(b), pin.id, 1, { op: "rename", args: ["x"] })).toMatchObject({ status: 400 });
    expect(await rawCall(a, asNode(b), pin.id, 1, { op: "fileRead", target: 1, args: [-1, 0] })).toMatchObject({ status: 400 });
    expect(a.running.node.pins.get(pin.id)!.lastSeq).toBe(0);
  });
});
