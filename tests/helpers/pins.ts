// Global references between real nodes on loopback: two (or three) in-process nodes that list each
// other as peers, a pin at one for the client's directory, the PeerDirectory at the other, and raw
// signed /peer/resources calls for the attacks (a body numbered and built by hand).
import { generateSigningKey, signRequest, type SigningKey } from "../../server/auth/index.js";
import type { PinAccess, PinRecord } from "../../server/node/resource-pins.js";
import type { PeerDirectory } from "../../server/peers/peer-directory.js";
import { decodeResourceAnswer, encodeResourceCall } from "../../server/peers/resource-wire.js";
import { FS_ERRORS, type FsRequest } from "../../runtime/index.js";
import { startTestNode, type TestNode } from "./node.js";

/** Each of `nodes` lists every other as a peer. */
export function linkPeers(...nodes: TestNode[]): void {
  for (const x of nodes)
    for (const y of nodes)
      if (x !== y)
        x.running.store.peers.upsert({ nodeId: y.running.identity.nodeId, url: y.running.url, publicKey: y.running.identity.publicKey });
}

export interface PinPair {
  key: SigningKey;
  /** The home node: the client is registered here with `capabilities`. */
  a: TestNode;
  /** Where the job runs now. */
  b: TestNode;
  close(): Promise<void>;
}

export async function pinPair(capabilities: string[] = ["reports/*:rw"]): Promise<PinPair> {
  const key = generateSigningKey();
  const a = await startTestNode({ key, capabilities });
  const b = await startTestNode({ key });
  linkPeers(a, b);
  return { key, a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
}

/**
 * A pin at `home` of the client's `dir`, callable by `peer`, for job `jobId` — which `home` records as
 * moved to `peer` (made if missing): a restarted node keeps the pins of jobs elsewhere only.
 */
export function pinAt(home: TestNode, peer: TestNode, dir = "reports", access: PinAccess = "rw", jobId = "job-1"): PinRecord {
  const store = home.running.store;
  const owner = home.key.clientId;
  if (!store.jobs.get(jobId)) {
    const { codeHash } = store.modules.put(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]), { owner, public: false }).module;
    store.jobs.create({
      id: jobId,
      codeHash,
      owner,
      trust: "authenticated",
      entry: "_start",
      node: peer.running.identity.nodeId,
      state: "migrated",
    });
  }
  return home.running.node.pins.create({ jobId, owner, dir, access, peer: peer.running.identity.nodeId });
}

/** The PeerDirectory `at` gets for `pin` at `home`. */
export function proxyOf(
  at: TestNode,
  home: TestNode,
  pin: PinRecord,
  options: { deadlineMs?: number; attemptTimeoutMs?: number } = {},
): PeerDirectory {
  return at.running.node.pins.reference({ home: home.running.identity.nodeId, pin: pin.id, access: pin.access }, options) as PeerDirectory;
}

export interface RawCall {
  status: number;
  /** The error code of a refusal. */
  code: string | undefined;
  /** For a 200: the answer's value, and the POSIX error it names when negative. */
  value: number | undefined;
  errno: string | undefined;
  payload: Uint8Array;
  headers: Record<string, string>;
}

/** A request signed as `signer` (a node's identity, or a client's key), with the headers it carried (for a replay). */
export async function signedRequest(
  url: string,
  signer: { clientId: string; privateKey: SigningKey["privateKey"] },
  method: string,
  path: string,
  body?: Uint8Array,
  replay?: Record<string, string>,
): Promise<RawCall> {
  const headers = replay ?? { ...signRequest(signer, { method, path, ...(body ? { body } : {}) }) };
  const response = await fetch(new URL(path, url), { method, headers, ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}) });
  const bytes = new Uint8Array(await response.arrayBuffer());
  // Only a call (POST /peer/resources/:pin) answers in the resource wire; the rest answer JSON.
  if (response.status !== 200 || method === "GET" || !/^\/peer\/resources\/[^/]+$/.test(path)) {
    let code: string | undefined;
    try {
      code = (JSON.parse(new TextDecoder().decode(bytes)) as { error?: { code?: string } }).error?.code;
    } catch {
      code = undefined;
    }
    return { status: response.status, code, value: undefined, errno: undefined, payload: bytes, headers };
  }
  const { value, payload } = decodeResourceAnswer(bytes);
  return { status: 200, code: undefined, value, errno: value < 0 ? FS_ERRORS[-1 - value] : undefined, payload, headers };
}

/** Node `from` signs. */
export function asNode(from: TestNode): { clientId: string; privateKey: SigningKey["privateKey"] } {
  return { clientId: from.running.identity.nodeId, privateKey: from.running.identity.privateKey };
}

/** Call number `seq` on `pin` at `home`, signed by `signer`. */
export function rawCall(
  home: TestNode,
  signer: { clientId: string; privateKey: SigningKey["privateKey"] },
  pin: string,
  seq: number,
  request: { op: FsRequest["op"]; args: readonly unknown[]; target?: number; bytes?: Uint8Array },
): Promise<RawCall> {
  const body = encodeResourceCall({ seq, request: { target: 0, bytes: new Uint8Array(0), ...request, args: [...request.args] } });
  return signedRequest(home.running.url, signer, "POST", `/peer/resources/${pin}`, body);
}
