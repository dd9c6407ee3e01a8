// Client side of request authentication: the headers that sign one request with an Ed25519 key.

import { randomBytes, sign } from "node:crypto";
import {
  bodyDigest,
  canonicalString,
  formatBodyHeader,
  HEADER_BODY,
  HEADER_CLIENT,
  HEADER_NONCE,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  transferSha256,
  type Body,
  type BodyDigest,
} from "./canonical.js";
import type { SigningKey } from "./keys.js";

export interface RequestToSign {
  method: string;
  /** Path and query exactly as they will be sent. */
  path: string;
  /** The body that will be sent (its length and sha256 are signed). */
  body?: Body;
  /** Instead of `body`: its length and sha256, when the caller has them already. */
  bodyDigest?: BodyDigest;
  /** The x-ferry-transfer header value the request carries (node-to-node transfers only). */
  transfer?: string;
  /** Unix milliseconds (default Date.now()). */
  now?: number;
  /** Default: 128 random bits, base64url. Reusing one makes the server reject the request as a replay. */
  nonce?: string;
}

export type AuthHeaders = Record<
  typeof HEADER_CLIENT | typeof HEADER_TIMESTAMP | typeof HEADER_NONCE | typeof HEADER_BODY | typeof HEADER_SIGNATURE,
  string
>;

export function newNonce(): string {
  return randomBytes(16).toString("base64url");
}

export function signRequest(key: Pick<SigningKey, "clientId" | "privateKey">, request: RequestToSign): AuthHeaders {
  const timestamp = String(Math.floor(request.now ?? Date.now()));
  const nonce = request.nonce ?? newNonce();
  const body = request.bodyDigest ?? bodyDigest(request.body);
  const data = canonicalString({
    method: request.method,
    path: request.path,
    clientId: key.clientId,
    timestamp,
    nonce,
    body,
    transferSha256: transferSha256(request.transfer),
  });
  // Ed25519 takes no separate digest (null): it hashes the message itself (RFC 8032).
  const signature = sign(null, Buffer.from(data, "utf8"), key.privateKey).toString("base64url");
  return {
    [HEADER_CLIENT]: key.clientId,
    [HEADER_TIMESTAMP]: timestamp,
    [HEADER_NONCE]: nonce,
    [HEADER_BODY]: formatBodyHeader(body),
    [HEADER_SIGNATURE]: signature,
  };
}
