// Helpers for the peer attack tests: a raw HTTP/1.1 exchange over a socket (to send a head that
// promises more body than is ever sent, and see when the answer comes), fake peers that sign with
// their own keys, and a snapshot of a spinning guest to offer.
import { connect } from "node:net";
import { generateSigningKey, signRequest, type SigningKey } from "../../server/auth/index.js";
import {
  encodeTransferHeader,
  snapshotDigest,
  TRANSFER_HEADER,
  TRANSFER_VERSION,
  type TransferHeader,
} from "../../server/migration/transfer-header.js";
import type { TestNode } from "../helpers/node.js";

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The JSON error code, when the body is `{ error: { code } }`. */
  code: string | undefined;
  /** Body bytes the client had written when the answer's first byte arrived. */
  sentWhenAnswered: number;
  /** The server closed the connection after answering. */
  closed: boolean;
}

/**
 * Sends the request head, then `chunks` one by one — each only after the previous was written and
 * while no answer has come — and then waits (without ever finishing a body the head may promise to
 * be larger) for the answer, up to `waitMs`. Rejects if no answer comes by then: a server that waits
 * for the rest of the body never answers.
 */
export function rawExchange(
  url: string,
  head: { method: string; path: string; headers: Record<string, string> },
  chunks: Uint8Array[] = [],
  waitMs = 20_000,
): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise<RawAnswer>((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let sent = 0;
    let sentWhenAnswered = -1;
    let received = Buffer.alloc(0);
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`no answer within ${waitMs} ms after sending ${sent} body bytes`)), waitMs);
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        socket.destroy();
        reject(error);
        return;
      }
      const text = received.toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      const lines = text.slice(0, split).split("\r\n");
      const status = Number(lines[0]!.split(" ")[1]);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      let body = received.subarray(split + 4).toString("utf8");
      if (headers["transfer-encoding"] === "chunked") body = unchunk(body);
      let code: string | undefined;
      try {
        code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
      } catch {
        code = undefined;
      }
      const closed = socket.readableEnded || socket.destroyed;
      socket.destroy();
      resolve({ status, headers, body, code, sentWhenAnswered, closed });
    };
    /** Complete once the head is in and the body is as long as content-length says, or the server ended the stream. */
    const complete = (ended: boolean): boolean => {
      const text = received.toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      if (split < 0) return false;
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split))?.[1];
      if (length !== undefined) return received.byteLength - split - 4 >= Number(length);
      if (/\r\ntransfer-encoding: *chunked/i.test(text.slice(0, split))) return text.endsWith("0\r\n\r\n") || ended;
      return ended;
    };
    socket.on("data", (d: Buffer) => {
      if (sentWhenAnswered < 0) sentWhenAnswered = sent;
      received = Buffer.concat([received, d]);
      if (complete(false)) setImmediate(() => finish());
    });
    socket.on("end", () => (complete(true) ? finish() : finish(new Error("connection ended without a whole answer"))));
    socket.on("error", (e) => {
      // The server may reset a connection whose body it refused to read; an answer already in counts.
      if (complete(true)) finish();
      else if (received.byteLength === 0) finish(e);
    });
    socket.on("connect", () => {
      const lines = [
        `${head.method} ${head.path} HTTP/1.1`,
        `host: ${hostname}:${port}`,
        ...Object.entries(head.headers).map(([k, v]) => `${k}: ${v}`),
      ];
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
      const next = (i: number): void => {
        if (settled || sentWhenAnswered >= 0 || i >= chunks.length) return;
        const chunk = chunks[i]!;
        socket.write(chunk, (err) => {
          if (err) return;
          sent += chunk.byteLength;
          next(i + 1);
        });
      };
      next(0);
    });
  });
}

function unchunk(text: string): string {
  let out = "";
  let rest = text;
  for (;;) {
    const nl = rest.indexOf("\r\n");
    if (nl < 0) return out;
    const size = parseInt(rest.slice(0, nl), 16);
    if (!size) return out;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
}

/** A peer of `node` that exists only as a key in the test: configured there, at an address nothing answers. */
export function fakePeer(node: TestNode, url = "http://127.0.0.1:9"): SigningKey {
  const key = generateSigningKey();
  node.running.store.peers.upsert({ nodeId: key.clientId, url, publicKey: key.publicKey });
  return key;
}

/** Headers that look like a peer's signed request in every way but the signature, which is noise. */
export function garbageSigned(signer: string, bodyLength: number): Record<string, string> {
  return {
    "x-ferry-client": signer,
    "x-ferry-timestamp": String(Date.now()),
    "x-ferry-nonce": Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64url"),
    "x-ferry-body": `${bodyLength} ${"ab".repeat(32)}`,
    "x-ferry-signature": Buffer.from(crypto.getRandomValues(new Uint8Array(64))).toString("base64url"),
  };
}

/** A well-formed strong transfer header from `peer` to `node` (override what the test varies). */
export function transferFrom(peer: SigningKey, node: TestNode, snapshot: Uint8Array, over: Partial<TransferHeader> = {}): TransferHeader {
  return {
    v: TRANSFER_VERSION,
    kind: "strong",
    jobId: `peer-test-${Math.random().toString(36).slice(2)}`,
    epoch: 1,
    source: peer.clientId,
    target: node.running.identity.nodeId,
    codeHash: "0".repeat(64),
    entry: "main",
    args: [],
    owner: null,
    trust: "anonymous",
    sandbox: "in-process",
    fuelLimit: null,
    fuelUsed: 0,
    snapshotSha256: snapshot.byteLength >= 32 ? snapshotDigest(snapshot) : null,
    baseHash: null,
    input: null,
    grant: null,
    ...over,
  };
}

export interface Answer {
  status: number;
  code: string | undefined;
  body: string;
}

async function answer(r: Response): Promise<Answer> {
  const body = await r.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: r.status, code, body };
}

/** A request signed by `key` (a peer's or a client's) over exactly what is sent, over real HTTP. */
export function signedFetch(
  node: TestNode,
  key: Pick<SigningKey, "clientId" | "privateKey">,
  method: string,
  path: string,
  body?: Uint8Array | string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const transfer = headers[TRANSFER_HEADER];
  const auth = signRequest(key, { method, path, body: bytes, ...(transfer === undefined ? {} : { transfer }) });
  return fetch(`${node.running.url}${path}`, {
    method,
    headers: { ...auth, ...headers },
    ...(bytes ? { body: bytes as Uint8Array<ArrayBuffer> } : {}),
  }).then(answer);
}

/** PREPARE (or PRE-COPY) of `header` with `body`, signed by `peer`. */
export function offer(
  node: TestNode,
  peer: Pick<SigningKey, "clientId" | "privateKey">,
  header: TransferHeader,
  body: Uint8Array = new Uint8Array(0),
  route: "prepare" | "precopy" = "prepare",
): Promise<Answer> {
  return signedFetch(node, peer, "POST", `/peer/migrations/${route}`, body, {
    [TRANSFER_HEADER]: encodeTransferHeader(header).text,
    "content-type": "application/octet-stream",
  });
}

/** COMMIT or ABORT of job `jobId` at `epoch`, signed by `peer`. */
export function decide(
  node: TestNode,
  peer: Pick<SigningKey, "clientId" | "privateKey">,
  what: "commit" | "abort",
  jobId: string,
  epoch = 1,
): Promise<Answer> {
  return signedFetch(node, peer, "POST", `/peer/migrations/${what}`, JSON.stringify({ jobId, epoch }), {
    "content-type": "application/json",
  });
}

/** An upload left open: its head and a first piece of body sent, the rest never. */
export interface HeldUpload {
  /** The answer, if the server gives one before the upload is closed. */
  answered: Promise<RawAnswer | undefined>;
  close(): void;
}

/** Sends a request head and `first` body bytes, then holds the connection open until close(). */
export function holdUpload(
  url: string,
  head: { method: string; path: string; headers: Record<string, string> },
  first: Uint8Array,
): HeldUpload {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  let data = Buffer.alloc(0);
  const answered = new Promise<RawAnswer | undefined>((resolve) => {
    socket.on("data", (d: Buffer) => {
      data = Buffer.concat([data, d]);
      const text = data.toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      if (split < 0) return;
      const lines = text.slice(0, split).split("\r\n");
      const body = data.subarray(split + 4).toString("utf8");
      let code: string | undefined;
      try {
        code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
      } catch {
        return; // the rest of the body is still on its way
      }
      resolve({ status: Number(lines[0]!.split(" ")[1]), headers: {}, body, code, sentWhenAnswered: first.byteLength, closed: false });
    });
    socket.on("close", () => resolve(undefined));
    socket.on("error", () => resolve(undefined));
  });
  socket.on("connect", () => {
    const lines = [
      `${head.method} ${head.path} HTTP/1.1`,
      `host: ${hostname}:${port}`,
      ...Object.entries(head.headers).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    socket.write(first);
  });
  return { answered, close: () => socket.destroy() };
}
