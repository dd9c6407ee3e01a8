// The signed form of an authenticated request: header names and the canonical string both sides
// build. Any change here is a protocol change: bump the version line.

import { createHash } from "node:crypto";

export const HEADER_CLIENT = "x-ferry-client";
export const HEADER_TIMESTAMP = "x-ferry-timestamp";
export const HEADER_NONCE = "x-ferry-nonce";
export const HEADER_SIGNATURE = "x-ferry-signature";
export const AUTH_HEADERS = [HEADER_CLIENT, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE] as const;

/** First line of every signed request; distinct from the transfer prefix, so one can never pass for the other. */
export const REQUEST_SIGNATURE_VERSION = "FERRY-REQUEST-V1";

/** How far a request's timestamp may be from the server's clock, either way. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface CanonicalRequest {
  method: string;
  /** Path and query exactly as in the request line ("/jobs/abc?wait=1"), no normalisation. */
  path: string;
  clientId: string;
  /** Unix milliseconds, decimal. */
  timestamp: string;
  nonce: string;
  /** sha256 of the body bytes (empty body: sha256 of nothing), lowercase hex. */
  bodySha256: string;
}

export function canonicalString(r: CanonicalRequest): string {
  return [REQUEST_SIGNATURE_VERSION, r.method.toUpperCase(), r.path, r.clientId, r.timestamp, r.nonce, r.bodySha256].join("\n");
}

export type Body = Uint8Array | string | undefined;

export function bodySha256(body: Body): string {
  return createHash("sha256")
    .update(body ?? new Uint8Array(0))
    .digest("hex");
}
