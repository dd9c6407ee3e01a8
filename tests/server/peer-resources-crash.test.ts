// A global reference whose home node is a real process killed with SIGKILL mid-use and restarted on
// its data directory: B's calls fail with EIO by the deadline while A is dead (B keeps running),
// and the pin, kept in A's SQLite store, works again once A is back.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FsError } from "../../runtime/index.js";
import { parsePublicKey } from "../../server/auth/index.js";
import { Store } from "../../server/store/store.js";
import type { PeerDirectory } from "../../server/peers/peer-directory.js";
import { removeDir, shareModuleCache, startTestNode, tempDir, type TestNode } from "../helpers/node.js";
import { spawnNode, type NodeProcess } from "../helpers/node-process.js";
import { until } from "../helpers/until.js";
import { rejectedErrno } from "../helpers/errors.js";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe("the home node killed and restarted", () => {
  it("kill -9: EIO within the deadline and B keeps running; restarted: the pin works again", async () => {
    const b: TestNode = await startTestNode();
    cleanup.push(() => b.close());
    const bId = b.running.identity.nodeId;
    // A's data directory: the client, and the pin as the node's create() writes it (the row and the directory).
    const dirA = tempDir("globalref-a-");
    cleanup.push(() => removeDir(dirA));
    shareModuleCache(dirA);
    let pinId: string;
    {
      using store = Store.open(dirA);
      store.clients.add({ publicKey: b.key.publicKey, capabilities: ["reports/*:rw"] });
      // The job the pin is for has moved on to B (a pin of a job that is here again, or gone, is released at a restart).
      const { codeHash } = store.modules.put(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]), {
        owner: b.key.clientId,
        public: false,
      }).module;
      store.jobs.create({
        id: "job-1",
        codeHash,
        owner: b.key.clientId,
        trust: "authenticated",
        entry: "main",
        node: bId,
        state: "migrated",
      });
      pinId = store.pins.add({
        id: "pinned-by-the-test-0001",
        jobId: "job-1",
        owner: b.key.clientId,
        dir: "reports",
        access: "rw",
        peer: bId,
      }).id;
    }
    mkdirSync(join(dirA, "resources", b.key.clientId, "reports"), { recursive: true });
    const peersFile = join(dirA, "..", `globalref-peers-${process.pid}-${Date.now()}.json`);
    writeFileSync(peersFile, JSON.stringify([{ nodeId: bId, url: b.running.url, publicKey: b.running.identity.publicKeyPem }]));
    cleanup.push(() => removeDir(peersFile));

    const spawnA = async (): Promise<NodeProcess> => {
      const a = await spawnNode(dirA, { peersFile });
      cleanup.push(() => a.kill());
      // B learns A's (new) address from its hello.
      b.running.store.peers.upsert({ nodeId: a.nodeId, url: a.url, publicKey: parsePublicKey(a.publicKey) });
      return a;
    };
    let a = await spawnA();
    const ref = { home: a.nodeId, pin: pinId, access: "rw" as const };
    const patient = b.running.node.pins.reference(ref, { deadlineMs: 30_000 }) as PeerDirectory;
    await patient.mkdir("before");
    const file = await patient.openFile("log", { create: true, write: true });
    expect(await file.write(new TextEncoder().encode("one\n"), 0)).toBe(4);

    await a.kill();
    const hasty = b.running.node.pins.reference(ref, { deadlineMs: 300, attemptTimeoutMs: 100 }) as PeerDirectory;
    const failure = await hasty.mkdir("during").catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(FsError);
    expect((failure as FsError).errno).toBe("EIO");
    expect((await fetch(`${b.running.url}/healthz`)).status).toBe(200);

    a = await spawnA();
    await until(async () => (await fetch(`${a.url}/healthz`)).ok, "A answering");
    await patient.mkdir("after");
    expect((await patient.list("")).map((e) => e.name)).toEqual(["after", "before", "log"]);
    // A file opened now never takes the number of one opened before the kill: the old handle is EBADF
    // (it lived in the killed process; the guest reopens by name), and the new file is not touched.
    const fresh = await patient.openFile("fresh", { create: true, write: true });
    expect(await rejectedErrno(file.write(new TextEncoder().encode("two\n"), 4))).toBe("EBADF");
    expect((await fresh.stat()).size).toBe(0);
    expect((await patient.stat("log")).size).toBe(4);
    await fresh.close();
    expect(await b.running.node.pins.releaseAt(ref)).toBe(true);
    expect(await rejectedErrno(patient.list(""))).toBe("EBADF");
  }, 120_000);
});
