// Where a node will send requests as to a peer (issue 8, §6): never a cloud metadata service, a
// link-local, multicast or unspecified address, whichever way the address is spelled and whichever
// way it arrives — a peer's hello, the node's configuration, or a row already in the store.
// Loopback and private networks stay allowed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey } from "../../server/auth/index.js";
import { isServerError } from "../../server/errors.js";
import { peerRequest } from "../../server/peers/peer-link.js";
import { checkPeerUrl, forbiddenAddress, peerLookup } from "../../server/peers/peer-url.js";
import { startNode } from "../../server/node-server.js";
import { removeDir, startTestNode, tempDir, type TestNode } from "../helpers/node.js";
import { fakePeer, signedFetch } from "./peer-helpers.js";
import { INFINITE_LOOP } from "../helpers/fixtures.js";

/** Every spelling of a forbidden peer address the review tried, and the variants of its class. */
const FORBIDDEN_URLS = [
  "http://169.254.169.254/latest/meta-data/",
  "http://169.254.170.2/",
  "http://169.254.0.1:8080",
  "http://0xa9fea9fe/",
  "http://2852039166/",
  "http://0251.0376.0251.0376/",
  "http://[::ffff:169.254.169.254]/",
  "http://[::ffff:a9fe:a9fe]/",
  "http://[64:ff9b::169.254.169.254]/",
  "http://[fe80::1]/",
  "http://[fe80::1%25eth0]/",
  "http://[fd00:ec2::254]/",
  "http://100.100.100.200/",
  "http://168.63.129.16/",
  "http://metadata.google.internal/",
  "http://metadata.google.internal./",
  "http://METADATA/",
  "http://0.0.0.0:8080",
  "http://0/",
  "http://[::]:8080",
  "http://224.0.0.1/",
  "http://239.255.255.250:1900",
  "http://255.255.255.255/",
  "http://[ff02::1]/",
  "file:///etc/passwd",
  "ftp://127.0.0.1/",
  "gopher://127.0.0.1:6379/",
  "http://user:secret@127.0.0.1:8080",
  "not a url",
];

const ALLOWED_URLS = [
  "http://127.0.0.1:4321",
  "http://[::1]:4321",
  "http://localhost:4321",
  "https://10.1.2.3:8443",
  "http://192.168.1.20:8080",
  "http://peer-b.internal:8080",
];

let n: TestNode;
beforeAll(async () => {
  n = await startTestNode();
});
afterAll(async () => {
  await n?.close();
  if (n) removeDir(n.dataDir);
});

describe("/peer/hello", () => {
  it.each(FORBIDDEN_URLS)("refuses %s with 400 bad_request, and the peer keeps its address", async (url) => {
    const peer = fakePeer(n);
    const before = n.running.store.peers.get(peer.clientId)!.url;
    const a = await signedFetch(n, peer, "POST", "/peer/hello", JSON.stringify({ url }), { "content-type": "application/json" });
    expect({ status: a.status, code: a.code }).toEqual({ status: 400, code: "bad_request" });
    expect(n.running.store.peers.get(peer.clientId)!.url).toBe(before);
  });

  it.each(ALLOWED_URLS)("accepts %s (loopback and private networks stay allowed)", async (url) => {
    const peer = fakePeer(n);
    const a = await signedFetch(n, peer, "POST", "/peer/hello", JSON.stringify({ url }), { "content-type": "application/json" });
    expect(a.status).toBe(200);
    expect(n.running.store.peers.get(peer.clientId)!.url).toBe(new URL(url).href);
  });
});

describe("configuration", () => {
  it("a node does not start with a peer at a forbidden address (400 bad_request), and releases its data directory", async () => {
    const dir = tempDir();
    const key = generateSigningKey();
    const peers = [
      { nodeId: key.clientId, url: "http://169.254.169.254/", publicKey: key.publicKey.export({ type: "spki", format: "pem" }).toString() },
    ];
    await expect(startNode({ dataDir: dir, peers })).rejects.toSatisfy((e: unknown) => isServerError(e, "bad_request"));
    // The store was closed: the directory opens again.
    const again = await startNode({ dataDir: dir, checkpointIntervalMs: 0 });
    await again.close();
    removeDir(dir);
  });
});

describe("an address already stored is checked again before every request", () => {
  it("a peer row pointing at the metadata service (written past every check) is never connected to", async () => {
    const peer = {
      nodeId: "f".repeat(32),
      url: "http://169.254.169.254/",
      publicKey: "",
      createdAt: 0,
      updatedAt: 0,
    } as unknown as Parameters<typeof peerRequest>[1];
    await expect(peerRequest(n.running.identity, peer, "GET", "/peer/migrations/x/decision?epoch=1")).rejects.toSatisfy((e: unknown) =>
      isServerError(e, "bad_request"),
    );
  });

  it("a migration to such a peer fails at once and the job goes on where it is", async () => {
    const key = generateSigningKey();
    n.running.store.peers.upsert({ nodeId: key.clientId, url: "http://[fe80::1]:80/", publicKey: key.publicKey });
    const { codeHash } = await n.client.uploadModule(INFINITE_LOOP, { public: true });
    const job = await n.anonymous.startJob({ codeHash, entry: "spin" });
    await expect(n.client.migrate(job.id, key.clientId)).rejects.toMatchObject({ status: 409 });
    expect((await n.anonymous.job(job.id)).state).toBe("running");
    await n.anonymous.cancel(job.id);
  });

  it("a host name is judged by what it resolves to: a forbidden address never reaches connect()", async () => {
    const resolve = (host: string) =>
      new Promise<string>((ok, fail) =>
        peerLookup(host, { family: 0 }, (err, address) =>
          err ? fail(err) : ok(typeof address === "string" ? address : address[0]!.address),
        ),
      );
    await expect(resolve("169.254.169.254")).rejects.toMatchObject({ code: "EFORBIDDEN" });
    await expect(resolve("224.0.0.251")).rejects.toMatchObject({ code: "EFORBIDDEN" });
    expect(["127.0.0.1", "::1"]).toContain(await resolve("localhost"));
  });
});

describe("the address rules", () => {
  it.each([
    "169.254.169.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "::",
    "fe80::abcd",
    "ff05::2",
    "::ffff:169.254.169.254",
    "::169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    "fd00:ec2::254",
  ])("%s is forbidden", (address) => {
    expect(forbiddenAddress(address)).toBeDefined();
  });
  it.each(["127.0.0.1", "127.9.9.9", "::1", "10.0.0.1", "172.16.0.1", "192.168.0.1", "8.8.8.8", "2001:db8::1", "fd12:3456::1"])(
    "%s is allowed",
    (address) => {
      expect(forbiddenAddress(address)).toBeUndefined();
    },
  );
  it("checkPeerUrl normalises before judging (the WHATWG parser's view of the host is the one used to connect)", () => {
    expect(() => checkPeerUrl("http://0xa9fea9fe/")).toThrow();
    expect(checkPeerUrl("http://127.1:80/").hostname).toBe("127.0.0.1");
  });
});
