// Node-to-node requests: signed with the node's own Ed25519 identity in the same scheme clients use
// (docs/auth.md), and verified against the peers table instead of the clients table.

import { signRequest, verifyRequest, type NodeIdentity } from "../auth/index.js";
import { HttpError } from "../client.js";
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
  if (!response.ok) {
    let code = "internal";
    let message = `${method} ${path} on ${peer.nodeId}: HTTP ${response.status}`;
    try {
      const e = (await response.json()) as { error?: { code?: string; message?: string } };
      code = e.error?.code ?? code;
      message = e.error?.message ?? message;
    } catch {
      // keep the status line
    }
    throw new HttpError(response.status, code, message);
  }
  return response;
}

/** The peer that signed `req`, or an `unauthorized` error: only configured peers may call /peer routes. */
export function verifyPeer(store: Store, req: SignedRequest): PeerRecord {
  return verifyRequest({ clients: store.peers, nonces: store.nonces }, req);
}
