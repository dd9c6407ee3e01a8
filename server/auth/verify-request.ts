// Server side of request authentication: checks the signing headers, the clock, the client, the
// Ed25519 signature and the nonce, in that order, and returns the client or throws `unauthorized`.
// All of it from the request's head: the body is checked against the signed digest as it streams in.

import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { ServerError, type AuthFailure } from "../errors.js";
import type { ClientRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import {
  bodyDigest,
  canonicalString,
  DEFAULT_MAX_CLOCK_SKEW_MS,
  HEADER_BODY,
  HEADER_CLIENT,
  HEADER_NONCE,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  HEADER_TRANSFER,
  parseBodyHeader,
  transferSha256,
  type Body,
  type BodyDigest,
} from "./canonical.js";

export type HeaderBag = Headers | Record<string, string | readonly string[] | undefined>;

/** A request before its body is read: everything the signature covers is in the head. */
export interface RequestHead {
  method: string;
  /** Path and query exactly as in the request line. */
  path: string;
  headers: HeaderBag;
  /** Unix milliseconds (injectable for tests; default Date.now()). */
  now?: number;
}

export interface RequestToVerify extends RequestHead {
  /** The whole body as received. */
  body?: Body;
}

/** Who signed a request head, and the body the signature promises. */
export interface VerifiedHead<S> {
  signer: S;
  /** Read the body against this: exactly `length` bytes whose sha256 is `sha256`. */
  body: BodyDigest;
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
/** `<length> <sha256 hex>`, parsed by parseBodyHeader. */
const BODY = /^\d{1,15} [0-9a-f]{64}$/;

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

/**
 * Authenticates a request from its head alone — before a byte of the body is read — and claims its
 * nonce. The caller must then read the body against the returned digest (server/http/body.ts), or
 * the signature says nothing about it.
 */
export function verifyRequestHead<S extends Signer = ClientRecord>(
  store: SignerDirectory<S>,
  request: RequestHead,
  options: VerifyOptions = {},
): VerifiedHead<S> {
  const now = request.now ?? Date.now();
  const maxSkew = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  const clientId = header(request.headers, HEADER_CLIENT, CLIENT);
  const timestamp = header(request.headers, HEADER_TIMESTAMP, TIMESTAMP);
  const nonce = header(request.headers, HEADER_NONCE, NONCE);
  const body =
    parseBodyHeader(header(request.headers, HEADER_BODY, BODY)) ??
    fail("malformed_header", `${HEADER_BODY} must be "<length> <sha256 hex>"`);
  const signature = header(request.headers, HEADER_SIGNATURE, SIGNATURE);

  // The clock first: cheap, and it bounds how long a nonce must be remembered.
  const signedAt = Number(timestamp);
  if (Math.abs(now - signedAt) > maxSkew) {
    fail(
      "expired_timestamp",
      `${HEADER_TIMESTAMP} is ${Math.round((signedAt - now) / 1000)} s from the server's clock (limit ±${maxSkew / 1000} s)`,
    );
  }
  const client = store.clients.get(clientId);
  if (!client) fail("unknown_client", `no client "${clientId}"`);
  if (client.disabled === true) fail("disabled_client", `client "${clientId}" is disabled`);

  const transfer = optionalHeader(request.headers, HEADER_TRANSFER);
  const data = canonicalString({
    method: request.method,
    path: request.path,
    clientId,
    timestamp,
    nonce,
    body,
    transferSha256: transferSha256(transfer),
  });
  if (!verify(null, Buffer.from(data, "utf8"), publicKeyOf(client.publicKey), Buffer.from(signature, "base64url"))) {
    fail("bad_signature", "signature does not match the method, path, timestamp, nonce and body under the client's key");
  }
  // Only after the signature: otherwise anyone could fill the table, or burn a client's nonces.
  // Kept until the timestamp can no longer pass the clock check, after which the check alone stops a replay.
  if (!store.nonces.claim(clientId, nonce, signedAt + maxSkew + 1, now)) {
    fail("replayed_nonce", `nonce ${nonce} was already used`);
  }
  return { signer: client, body };
}

/** verifyRequestHead, then the whole body (already in hand) against the signed length and digest. */
export function verifyRequest<S extends Signer = ClientRecord>(
  store: SignerDirectory<S>,
  request: RequestToVerify,
  options: VerifyOptions = {},
): S {
  const { signer, body } = verifyRequestHead(store, request, options);
  const actual = bodyDigest(request.body);
  if (actual.length !== body.length || actual.sha256 !== body.sha256) fail("bad_signature", "the body is not the one the signature names");
  return signer;
}

/** A body that is not the one the signed head names: the request is not the one that was signed. */
export function bodyMismatch(detail: string): ServerError {
  return new ServerError("unauthorized", detail, { reason: "bad_signature" });
}

function optionalHeader(headers: HeaderBag, name: string): string | undefined {
  let value: string | readonly string[] | null | undefined;
  if (headers instanceof Headers) value = headers.get(name);
  else value = headers[name] ?? Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") fail("malformed_header", `${name} is repeated`);
  return value;
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
