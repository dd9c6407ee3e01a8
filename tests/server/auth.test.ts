// Request signing against a real store: every way a request can fail authentication, replay
// protection, clock skew, node identities and transfer signatures.
import { generateKeyPairSync, verify } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  AUTH_HEADERS,
  bodyDigest,
  canonicalString,
  DEFAULT_MAX_CLOCK_SKEW_MS,
  generateSigningKey,
  loadOrCreateNodeIdentity,
  NODE_KEY_FILE,
  readKeyFile,
  signRequest,
  signTransfer,
  verifyRequest,
  verifyTransfer,
  writeKeyFile,
  type RequestToVerify,
  type SigningKey,
} from "../../server/auth/index.js";
import { errorResponse, isServerError, ServerError, type AuthFailure } from "../../server/errors.js";
import { Store } from "../../server/store/index.js";

const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

const T0 = 1_700_000_000_000;

function setup(): { store: Store; key: SigningKey } {
  const store = Store.open(mkdtempSync(join(tmpdir(), "ferry-auth-")));
  stores.push(store);
  const key = generateSigningKey();
  store.clients.add({ publicKey: key.publicKey, capabilities: ["data/*:r"] });
  return { store, key };
}

function signed(key: SigningKey, over: Partial<RequestToVerify> = {}): RequestToVerify {
  const method = "POST";
  const path = "/jobs?wait=1";
  const body = '{"module":"abc"}';
  return { method, path, body, now: T0, headers: signRequest(key, { method, path, body, now: T0 }), ...over };
}

function failure(fn: () => unknown): AuthFailure | string {
  try {
    fn();
  } catch (e) {
    if (isServerError(e, "unauthorized")) return e.reason!;
    throw e;
  }
  return "accepted";
}

describe("verifyRequest", () => {
  it("accepts a signed request and returns the client record", () => {
    const { store, key } = setup();
    const client = verifyRequest(store, signed(key));
    expect(client).toMatchObject({ id: key.clientId, capabilities: ["data/*:r"], disabled: false });
  });

  it("accepts Fetch Headers and a byte body", () => {
    const { store, key } = setup();
    const body = new Uint8Array([0, 1, 2, 255]);
    const headers = new Headers(signRequest(key, { method: "PUT", path: "/m", body, now: T0 }));
    expect(verifyRequest(store, { method: "put", path: "/m", headers, body, now: T0 }).id).toBe(key.clientId);
  });

  it("rejects a tampered body, path, query or method as bad_signature", () => {
    const { store, key } = setup();
    expect(failure(() => verifyRequest(store, signed(key, { body: '{"module":"abd"}' })))).toBe("bad_signature");
    expect(failure(() => verifyRequest(store, signed(key, { body: undefined })))).toBe("bad_signature");
    expect(failure(() => verifyRequest(store, signed(key, { path: "/jobs?wait=2" })))).toBe("bad_signature");
    expect(failure(() => verifyRequest(store, signed(key, { path: "/modules?wait=1" })))).toBe("bad_signature");
    expect(failure(() => verifyRequest(store, signed(key, { method: "DELETE" })))).toBe("bad_signature");
  });

  it("rejects a signature made with another key under the client's id", () => {
    const { store, key } = setup();
    const impostor = { ...generateSigningKey(), clientId: key.clientId };
    expect(failure(() => verifyRequest(store, signed(impostor)))).toBe("bad_signature");
  });

  it("claims the nonce once the head verifies: a body that is not the signed one uses it up (it was read against a genuine signature)", () => {
    const { store, key } = setup();
    const request = signed(key);
    expect(failure(() => verifyRequest(store, { ...request, body: '{"module":"abd"}' }))).toBe("bad_signature");
    expect(failure(() => verifyRequest(store, request))).toBe("replayed_nonce");
  });

  it("rejects unknown and disabled clients", () => {
    const { store, key } = setup();
    expect(failure(() => verifyRequest(store, signed(generateSigningKey())))).toBe("unknown_client");
    store.clients.setDisabled(key.clientId, true);
    expect(failure(() => verifyRequest(store, signed(key)))).toBe("disabled_client");
  });

  it("rejects a replayed nonce, and a failed signature does not use up the nonce", () => {
    const { store, key } = setup();
    const request = signed(key);
    const forged = { ...request, path: "/jobs?wait=2" };
    expect(failure(() => verifyRequest(store, forged))).toBe("bad_signature");
    expect(failure(() => verifyRequest(store, request))).toBe("accepted");
    expect(failure(() => verifyRequest(store, request))).toBe("replayed_nonce");
    expect(failure(() => verifyRequest(store, { ...request, now: T0 + DEFAULT_MAX_CLOCK_SKEW_MS }))).toBe("replayed_nonce");
    // Once the nonce could have expired, the timestamp is what stops the replay.
    expect(failure(() => verifyRequest(store, { ...request, now: T0 + DEFAULT_MAX_CLOCK_SKEW_MS + 1 }))).toBe("expired_timestamp");
  });

  it("accepts clocks up to ±5 minutes apart and rejects anything beyond", () => {
    const { store, key } = setup();
    for (const skew of [DEFAULT_MAX_CLOCK_SKEW_MS, -DEFAULT_MAX_CLOCK_SKEW_MS]) {
      expect(failure(() => verifyRequest(store, { ...signed(key), now: T0 + skew }))).toBe("accepted");
    }
    for (const skew of [DEFAULT_MAX_CLOCK_SKEW_MS + 1, -DEFAULT_MAX_CLOCK_SKEW_MS - 1]) {
      expect(failure(() => verifyRequest(store, { ...signed(key), now: T0 + skew }))).toBe("expired_timestamp");
    }
  });

  it("names a missing or malformed header", () => {
    const { store, key } = setup();
    const request = signed(key);
    for (const name of AUTH_HEADERS) {
      const headers = { ...(request.headers as Record<string, string>) };
      delete headers[name];
      expect(failure(() => verifyRequest(store, { ...request, headers }))).toBe("missing_header");
    }
    const headers = request.headers as Record<string, string>;
    expect(failure(() => verifyRequest(store, { ...request, headers: { ...headers, "x-ferry-signature": "abc" } }))).toBe(
      "malformed_header",
    );
    expect(failure(() => verifyRequest(store, { ...request, headers: { ...headers, "x-ferry-timestamp": "1e12" } }))).toBe(
      "malformed_header",
    );
    expect(
      failure(() => verifyRequest(store, { ...request, headers: { ...headers, "x-ferry-nonce": ["a".repeat(22), "b".repeat(22)] } })),
    ).toBe("malformed_header");
  });

  it("maps to a 401 JSON error body for the HTTP layer", () => {
    const { store, key } = setup();
    let thrown: unknown;
    try {
      verifyRequest(store, signed(key, { method: "GET" }));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ServerError);
    expect(errorResponse(thrown)).toMatchObject({ status: 401, body: { error: { code: "unauthorized" } } });
    expect(errorResponse(new Error("secret detail")).body.error.message).not.toContain("secret");
  });
});

describe("key files", () => {
  it("round-trips through a 0600 file and refuses a public key that does not match the private key", () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-key-"));
    const path = join(dir, "key.json");
    const key = generateSigningKey();
    writeKeyFile(path, key);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const read = readKeyFile(path);
    expect(read.clientId).toBe(key.clientId);
    const headers = signRequest(read, { method: "GET", path: "/", now: T0 });
    expect(headers["x-ferry-client"]).toBe(key.clientId);

    const json = JSON.parse(readFileSync(path, "utf8")) as { publicKey: string };
    json.publicKey = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }).toString();
    writeFileSync(path, JSON.stringify(json));
    expect(() => readKeyFile(path)).toThrow(ServerError);
  });
});

describe("node identity", () => {
  it("is created once in the data directory (mode 0600) and is the same on every load", () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-node-"));
    const first = loadOrCreateNodeIdentity(dir);
    const second = loadOrCreateNodeIdentity(dir);
    expect(second.nodeId).toBe(first.nodeId);
    expect(second.publicKeyPem).toBe(first.publicKeyPem);
    expect(statSync(join(dir, NODE_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(loadOrCreateNodeIdentity(mkdtempSync(join(tmpdir(), "ferry-node-"))).nodeId).not.toBe(first.nodeId);
  });

  it("signs transfers that only its own key verifies, over exactly the signed bytes", () => {
    const a = loadOrCreateNodeIdentity(mkdtempSync(join(tmpdir(), "ferry-node-")));
    const b = loadOrCreateNodeIdentity(mkdtempSync(join(tmpdir(), "ferry-node-")));
    const transfer = new TextEncoder().encode(JSON.stringify({ job: "j1", epoch: 3, to: b.nodeId }));
    const signature = signTransfer(a, transfer);
    expect(verifyTransfer(a.publicKeyPem, transfer, signature)).toBe(true);
    expect(verifyTransfer(a.publicKey, transfer, signature)).toBe(true);
    expect(verifyTransfer(b.publicKeyPem, transfer, signature)).toBe(false);
    const tampered = transfer.slice();
    tampered[5] = tampered[5]! ^ 1;
    expect(verifyTransfer(a.publicKeyPem, tampered, signature)).toBe(false);
    expect(verifyTransfer(a.publicKeyPem, transfer, "short")).toBe(false);
  });

  it("signs node-to-node requests that verify against the peers table, not the clients table", () => {
    const { store, key } = setup();
    const node = loadOrCreateNodeIdentity(mkdtempSync(join(tmpdir(), "ferry-node-")));
    store.peers.upsert({ nodeId: node.nodeId, url: "http://127.0.0.1:1", publicKey: node.publicKey });
    const request = { method: "POST", path: "/peer/prepare", body: "offer", now: T0 };
    const peers = { clients: store.peers, nonces: store.nonces };
    const fromNode = { ...request, headers: signRequest({ clientId: node.nodeId, privateKey: node.privateKey }, request) };
    expect(verifyRequest(peers, fromNode).url).toBe("http://127.0.0.1:1/");
    expect(failure(() => verifyRequest(peers, { ...request, headers: signRequest(key, request) }))).toBe("unknown_client");
    expect(
      failure(() =>
        verifyRequest(store, { ...request, headers: signRequest({ clientId: node.nodeId, privateKey: node.privateKey }, request) }),
      ),
    ).toBe("unknown_client");
  });

  it("never verifies a request signature as a transfer (separate signing domains)", () => {
    const key = generateSigningKey();
    const headers = signRequest(key, { method: "POST", path: "/x", body: "b", now: T0 });
    const signedBytes = Buffer.from(
      canonicalString({
        method: "POST",
        path: "/x",
        clientId: key.clientId,
        timestamp: String(T0),
        nonce: headers["x-ferry-nonce"],
        body: bodyDigest("b"),
        transferSha256: "-",
      }),
    );
    const signature = Buffer.from(headers["x-ferry-signature"], "base64url");
    expect(verify(null, signedBytes, key.publicKey, signature)).toBe(true); // the request signature is over these bytes…
    expect(verifyTransfer(key.publicKey, signedBytes, headers["x-ferry-signature"])).toBe(false); // …yet it is no transfer signature
  });
});
