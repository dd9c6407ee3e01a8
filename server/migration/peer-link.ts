// Node-to-node requests: signed with the node's own Ed25519 identity in the same scheme clients use
// (docs/auth.md), and verified against the peers table instead of the clients table.

import http from "node:http";
import { signRequest, verifyRequest, type NodeIdentity } from "../auth/index.js";
import { ServerError } from "../errors.js";
import { httpError } from "../client.js";
import type { Store } from "../store/store.js";
import type { PeerRecord } from "../store/records.js";
import type { SignedRequest } from "../http/app.js";

export interface PeerRequestOptions {
  timeoutMs?: number;
  /** What the signature covers, when not the body itself (PREPARE signs its transfer header). */
  signed?: Uint8Array;
  headers?: Record<string, string>;
}

// node:http rather than fetch: for multi-MiB bodies over loopback it is about 3× faster.
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** Send a signed request to a peer; non-2xx answers become HttpErrors carrying the peer's code. */
export async function peerRequest(
  identity: NodeIdentity,
  peer: PeerRecord,
  method: string,
  path: string,
  body?: Uint8Array,
  optionsOrTimeoutMs: PeerRequestOptions | number = {},
): Promise<Response> {
  const options = typeof optionsOrTimeoutMs === "number" ? { timeoutMs: optionsOrTimeoutMs } : optionsOrTimeoutMs;
  const auth = signRequest({ clientId: identity.nodeId, privateKey: identity.privateKey }, { method, path, body: options.signed ?? body });
  const url = new URL(path, peer.url);
  if (url.protocol !== "http:") throw new ServerError("bad_request", `peer ${peer.nodeId}: only http:// peers are supported, got ${url.protocol}`);
  const { status, headers, bytes } = await new Promise<{ status: number; headers: Headers; bytes: Buffer }>((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent,
        timeout: options.timeoutMs ?? 30_000,
        headers: { ...auth, ...options.headers, ...(body ? { "content-type": "application/octet-stream", "content-length": String(body.byteLength) } : { "content-length": "0" }) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
          resolve({ status: res.statusCode ?? 0, headers: h, bytes: Buffer.concat(chunks) });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path} on ${peer.nodeId}: no answer within ${options.timeoutMs ?? 30_000} ms`)));
    req.on("error", reject);
    req.end(body);
  });
  const response = new Response(status === 204 ? null : (new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) as Uint8Array<ArrayBuffer>), { status, headers });
  if (!response.ok) throw await httpError(response, `${method} ${path} on ${peer.nodeId}: HTTP ${status}`);
  return response;
}

/** The peer that signed `req`, or an `unauthorized` error: only configured peers may call /peer routes. */
export function verifyPeer(store: Store, req: SignedRequest): PeerRecord {
  return verifyRequest({ clients: store.peers, nonces: store.nonces }, req);
}
