// Node-to-node requests: signed with the node's own Ed25519 identity in the same scheme clients use
// (docs/auth.md), and verified against the peers table instead of the clients table.

import { signRequest, verifyRequest, type NodeIdentity } from "../auth/index.js";
import { httpError } from "../client.js";
import type { Store } from "../store/store.js";
import type { PeerRecord } from "../store/records.js";
import type { SignedRequest } from "../http/app.js";

/** Send a signed request to a peer; non-2xx answers become HttpErrors carrying the peer's code. */
export async function peerRequest(identity: NodeIdentity, peer: PeerRecord, method: string, path: string, body?: Uint8Array, timeoutMs = 30_000): Promise<Response> {
  const headers = signRequest({ clientId: identity.nodeId, privateKey: identity.privateKey }, { method, path, body });
  const response = await fetch(new URL(path, peer.url), {
    method,
    headers: { ...headers, ...(body ? { "content-type": "application/octet-stream" } : {}) },
    ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!response.ok) throw await httpError(response, `${method} ${path} on ${peer.nodeId}: HTTP ${response.status}`);
  return response;
}

/** The peer that signed `req`, or an `unauthorized` error: only configured peers may call /peer routes. */
export function verifyPeer(store: Store, req: SignedRequest): PeerRecord {
  return verifyRequest({ clients: store.peers, nonces: store.nonces }, req);
}
