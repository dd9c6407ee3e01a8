// Server side of request authentication: checks the signing headers, the clock, the client, the
// Ed25519 signature and the nonce, in that order, and returns the client or throws `unauthorized`.

import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { ServerError, type AuthFailure } from "../errors.js";
import type { ClientRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import {
  bodySha256,
  canonicalString,
  DEFAULT_MAX_CLOCK_SKEW_MS,
  HEADER_CLIENT,
  HEADER_NONCE,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  type Body,
} from "./canonical.js";

export type HeaderBag = Headers | Record<string, string | readonly string[] | undefined>;

export interface RequestToVerify {
  method: string;
  /** Path and query exactly as in the request line. */
  path: string;
  headers: HeaderBag;
  /** The whole body as received (bound it with a size limit before reading it). */
  body?: Body;
  /** Unix milliseconds (injectable for tests; default Date.now()). */
  now?: number;
}

export interface VerifyOptions {
  maxClockSkewMs?: number;
}

const TIMESTAMP = /^\d{1,16}$/;
/** 128 bits or more of base64url; the upper bound keeps the nonce table's rows small. */
const NONCE = /^[A-Za-z0-9_-]{16,128}$/;
/** 64 bytes of Ed25519 signature in unpadded base64url. */
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;
const CLIENT = /^[A-Za-z0-9._-]{1,64}$/;

/** Whoever may sign: a client record, or (for node-to-node calls) a peer record. */
export interface Signer {
  /** Ed25519 SPKI, PEM. */
  publicKey: string;
  disabled?: boolean;
}

/**
 * Where verifyRequest looks signers up and records nonces. A Store is one; node-to-node routes pass
 * `{ clients: store.peers, nonces: store.nonces }` to accept only configured peers.
 */
export interface SignerDirectory<S extends Signer> {
  clients: { get(id: string): S | undefined };
  nonces: Pick<Store["nonces"], "claim">;
}

export function verifyRequest<S extends Signer = ClientRecord>(store: SignerDirectory<S>, request: RequestToVerify, options: VerifyOptions = {}): S {
  const now = request.now ?? Date.now();
  const maxSkew = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  const clientId = header(request.headers, HEADER_CLIENT, CLIENT);
  const timestamp = header(request.headers, HEADER_TIMESTAMP, TIMESTAMP);
  const nonce = header(request.headers, HEADER_NONCE, NONCE);
  const signature = header(request.headers, HEADER_SIGNATURE, SIGNATURE);

  // The clock first: cheap, and it bounds how long a nonce must be remembered.
  const signedAt = Number(timestamp);
  if (Math.abs(now - signedAt) > maxSkew) {
    fail("expired_timestamp", `${HEADER_TIMESTAMP} is ${Math.round((signedAt - now) / 1000)} s from the server's clock (limit ±${maxSkew / 1000} s)`);
  }
  const client = store.clients.get(clientId);
  if (!client) fail("unknown_client", `no client "${clientId}"`);
  if (client.disabled === true) fail("disabled_client", `client "${clientId}" is disabled`);

  const data = canonicalString({ method: request.method, path: request.path, clientId, timestamp, nonce, bodySha256: bodySha256(request.body) });
  if (!verify(null, Buffer.from(data, "utf8"), publicKeyOf(client.publicKey), Buffer.from(signature, "base64url"))) {
    fail("bad_signature", "signature does not match the method, path, timestamp, nonce and body under the client's key");
  }
  // Only after the signature: otherwise anyone could fill the table, or burn a client's nonces.
  // Kept until the timestamp can no longer pass the clock check, after which the check alone stops a replay.
  if (!store.nonces.claim(clientId, nonce, signedAt + maxSkew + 1, now)) {
    fail("replayed_nonce", `nonce ${nonce} was already used`);
  }
  return client;
}

function header(headers: HeaderBag, name: string, pattern: RegExp): string {
  let value: string | readonly string[] | null | undefined;
  if (headers instanceof Headers) value = headers.get(name);
  else value = headers[name] ?? Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  if (value === undefined || value === null || value === "") fail("missing_header", `${name} is missing`);
  // Repeated headers (an array, or Headers' comma-joined list) are ambiguous: which one was signed?
  if (typeof value !== "string" || !pattern.test(value)) fail("malformed_header", `${name} is malformed`);
  return value;
}

function fail(reason: AuthFailure, detail: string): never {
  throw new ServerError("unauthorized", detail, { reason });
}

/** Parsed keys by PEM: parsing costs more than verifying, and the same clients sign again and again. */
const keyCache = new Map<string, KeyObject>();
const KEY_CACHE_SIZE = 1024;

function publicKeyOf(pem: string): KeyObject {
  let key = keyCache.get(pem);
  if (!key) {
    key = createPublicKey(pem);
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(pem, key);
  }
  return key;
}
