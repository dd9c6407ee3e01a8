// Node-to-node requests: signed with the node's own Ed25519 identity in the same scheme clients use
// (docs/auth.md), to a checked peer address, with a bounded answer. The receiving side verifies them
// against the peers table in server/node-server.ts, before it reads their bodies.

import http from "node:http";
import https from "node:https";
import { signRequest, type NodeIdentity } from "../auth/index.js";
import { ServerError } from "../errors.js";
import { httpError } from "../http-fetch.js";
import type { PeerRecord } from "../store/records.js";
import { checkPeerUrl, peerLookup } from "./peer-url.js";

export interface PeerRequestOptions {
  timeoutMs?: number;
  /** The x-ferry-transfer header value (PREPARE, PRE-COPY): sent and signed with the request. */
  transfer?: string;
  headers?: Record<string, string>;
  /** Largest answer accepted; a peer that sends more is cut off (default 1 MiB). */
  maxResponseBytes?: number;
}

const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

// node:http rather than fetch: for multi-MiB bodies over loopback it is about 3× faster.
const agents = {
  "http:": new http.Agent({ keepAlive: true, maxSockets: 16 }),
  "https:": new https.Agent({ keepAlive: true, maxSockets: 16 }),
};

/** A peer's answer as it came: status, headers and the whole body. */
interface PeerAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes: Buffer;
}

/** Send a signed request to a peer; non-2xx answers become HttpErrors carrying the peer's code. */
export async function peerRequest(
  identity: NodeIdentity,
  peer: PeerRecord,
  method: string,
  path: string,
  body?: Uint8Array,
  optionsOrTimeoutMs: PeerRequestOptions | number = {},
): Promise<Response> {
  const { status, headers, bytes } = await peerExchange(identity, peer, method, path, body, optionsOrTimeoutMs);
  const response = toResponse(status, headers, bytes);
  if (!response.ok) throw await httpError(response, `${method} ${path} on ${peer.nodeId}: HTTP ${status}`);
  return response;
}

/**
 * `peerRequest`'s answer body alone, for the calls that only need its bytes: a global reference's
 * every file-system call. A web Response (undici Headers, a ReadableStream) built and read back cost
 * ~250 µs of CPU here with the garbage it made, a quarter of such a call's at this end; only a
 * refusal (non-2xx) is made one, for its HttpError.
 */
export async function peerRequestBytes(
  identity: NodeIdentity,
  peer: PeerRecord,
  method: string,
  path: string,
  body?: Uint8Array,
  options: PeerRequestOptions = {},
): Promise<Buffer> {
  const { status, headers, bytes } = await peerExchange(identity, peer, method, path, body, options);
  if (status < 200 || status > 299)
    throw await httpError(toResponse(status, headers, bytes), `${method} ${path} on ${peer.nodeId}: HTTP ${status}`);
  return bytes;
}

function toResponse(status: number, headers: http.IncomingHttpHeaders, bytes: Buffer): Response {
  const h = new Headers();
  for (const [k, v] of Object.entries(headers)) if (typeof v === "string") h.set(k, v);
  return new Response(
    status === 204 ? null : (new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) as Uint8Array<ArrayBuffer>),
    { status, headers: h },
  );
}

/** The signed request over node:http (keep-alive), its answer read whole up to the bound. */
async function peerExchange(
  identity: NodeIdentity,
  peer: PeerRecord,
  method: string,
  path: string,
  body: Uint8Array | undefined,
  optionsOrTimeoutMs: PeerRequestOptions | number,
): Promise<PeerAnswer> {
  const options = typeof optionsOrTimeoutMs === "number" ? { timeoutMs: optionsOrTimeoutMs } : optionsOrTimeoutMs;
  // Checked on every request, not only when the address was stored: a row from before the check, or
  // written by any other path, is never used to reach a forbidden address.
  const base = checkPeerUrl(peer.url);
  const url = new URL(path, base);
  const auth = signRequest(
    { clientId: identity.nodeId, privateKey: identity.privateKey },
    { method, path, body, ...(options.transfer === undefined ? {} : { transfer: options.transfer }) },
  );
  const maxResponse = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const transport = url.protocol === "https:" ? https : http;
  return new Promise<PeerAnswer>((resolveOnce, rejectOnce) => {
    let settled = false;
    const resolve = (v: PeerAnswer): void => {
      if (!settled) {
        settled = true;
        resolveOnce(v);
      }
    };
    const reject = (e: unknown): void => {
      if (!settled) {
        settled = true;
        rejectOnce(e);
      }
    };
    const req = transport.request(
      url,
      {
        method,
        agent: agents[url.protocol as "http:" | "https:"],
        lookup: peerLookup,
        timeout: timeoutMs,
        headers: {
          ...auth,
          ...options.headers,
          ...(options.transfer === undefined ? {} : { "x-ferry-transfer": options.transfer }),
          ...(body ? { "content-type": "application/octet-stream", "content-length": String(body.byteLength) } : { "content-length": "0" }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let total = 0;
        res.on("data", (c: Buffer) => {
          total += c.byteLength;
          if (total > maxResponse) {
            reject(new ServerError("peer_error", `${method} ${path} on ${peer.nodeId}: the answer exceeds ${maxResponse} bytes`));
            req.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes: Buffer.concat(chunks) }));
        res.on("error", reject);
        res.on("close", () => reject(new Error(`${method} ${path} on ${peer.nodeId}: the connection closed mid-answer`)));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path} on ${peer.nodeId}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}
