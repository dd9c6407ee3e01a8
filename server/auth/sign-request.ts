// Client side of request authentication: the headers that sign one request with an Ed25519 key.

import { randomBytes, sign } from "node:crypto";
import { bodySha256, canonicalString, HEADER_CLIENT, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, type Body } from "./canonical.js";
import type { SigningKey } from "./keys.js";

export interface RequestToSign {
  method: string;
  /** Path and query exactly as they will be sent. */
  path: string;
  body?: Body;
  /** Unix milliseconds (default Date.now()). */
  now?: number;
  /** Default: 128 random bits, base64url. Reusing one makes the server reject the request as a replay. */
  nonce?: string;
}

export type AuthHeaders = Record<typeof HEADER_CLIENT | typeof HEADER_TIMESTAMP | typeof HEADER_NONCE | typeof HEADER_SIGNATURE, string>;

export function newNonce(): string {
  return randomBytes(16).toString("base64url");
}

export function signRequest(key: Pick<SigningKey, "clientId" | "privateKey">, request: RequestToSign): AuthHeaders {
  const timestamp = String(Math.floor(request.now ?? Date.now()));
  const nonce = request.nonce ?? newNonce();
  const data = canonicalString({
    method: request.method,
    path: request.path,
    clientId: key.clientId,
    timestamp,
    nonce,
    bodySha256: bodySha256(request.body),
  });
  // Ed25519 takes no separate digest (null): it hashes the message itself (RFC 8032).
  const signature = sign(null, Buffer.from(data, "utf8"), key.privateKey).toString("base64url");
  return {
    [HEADER_CLIENT]: key.clientId,
    [HEADER_TIMESTAMP]: timestamp,
    [HEADER_NONCE]: nonce,
    [HEADER_SIGNATURE]: signature,
  };
}
