// The signed form of an authenticated request: header names and the canonical string both sides
// build. Any change here is a protocol change: bump the version line.

import { createHash } from "node:crypto";

export const HEADER_CLIENT = "x-ferry-client";
export const HEADER_TIMESTAMP = "x-ferry-timestamp";
export const HEADER_NONCE = "x-ferry-nonce";
export const HEADER_SIGNATURE = "x-ferry-signature";
/**
 * `<length> <sha256 hex>` of the body. Signed, so the server can authenticate a request before it
 * reads a byte of its body, then check the body against it while it streams in.
 */
export const HEADER_BODY = "x-ferry-body";
/** A node-to-node transfer header (server/migration/transfer-header.ts); its digest is signed too. */
export const HEADER_TRANSFER = "x-ferry-transfer";
export const AUTH_HEADERS = [HEADER_CLIENT, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_BODY, HEADER_SIGNATURE] as const;

/**
 * First line of every signed request; distinct from the transfer and grant prefixes, so one can
 * never pass for another. V2 signs the body's declared length and digest (V1 signed only the digest
 * of a body the server had to read first).
 */
export const REQUEST_SIGNATURE_VERSION = "FERRY-REQUEST-V2";

/** How far a request's timestamp may be from the server's clock, either way. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** What a signed request says its body is: exactly this many bytes with this sha256. */
export interface BodyDigest {
  length: number;
  /** Lowercase hex. */
  sha256: string;
}

export interface CanonicalRequest {
  method: string;
  /** Path and query exactly as in the request line ("/jobs/abc?wait=1"), no normalisation. */
  path: string;
  clientId: string;
  /** Unix milliseconds, decimal. */
  timestamp: string;
  nonce: string;
  body: BodyDigest;
  /** sha256 (hex) of the x-ferry-transfer header's value, or "-" when the request has none. */
  transferSha256: string;
}

export function canonicalString(r: CanonicalRequest): string {
  return [
    REQUEST_SIGNATURE_VERSION,
    r.method.toUpperCase(),
    r.path,
    r.clientId,
    r.timestamp,
    r.nonce,
    String(r.body.length),
    r.body.sha256,
    r.transferSha256,
  ].join("\n");
}

export type Body = Uint8Array | string | undefined;

export function bodySha256(body: Body): string {
  return createHash("sha256")
    .update(body ?? new Uint8Array(0))
    .digest("hex");
}

export function bodyDigest(body: Body): BodyDigest {
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : (body ?? new Uint8Array(0));
  return { length: bytes.byteLength, sha256: bodySha256(bytes) };
}

/** The x-ferry-body value. */
export function formatBodyHeader(d: BodyDigest): string {
  return `${d.length} ${d.sha256}`;
}

/** Largest body length the header may declare: well past any route's limit, and a safe integer. */
const BODY_HEADER = /^(0|[1-9]\d{0,14}) ([0-9a-f]{64})$/;

/** The x-ferry-body value parsed, or undefined when it is not `<length> <sha256 hex>`. */
export function parseBodyHeader(value: string): BodyDigest | undefined {
  const m = BODY_HEADER.exec(value);
  return m ? { length: Number(m[1]), sha256: m[2]! } : undefined;
}

/** The digest line for the transfer header: "-" when there is none. */
export function transferSha256(value: string | null | undefined): string {
  return value === null || value === undefined ? "-" : createHash("sha256").update(value, "utf8").digest("hex");
}
