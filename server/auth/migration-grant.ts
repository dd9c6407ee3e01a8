// Migration grants: a client's own, signed permission for one job of its to move from one node to
// another and run there as the client. A peer's word that a job belongs to a client is not enough —
// without a grant the target runs the job as anonymous (docs/auth.md, "Migration grants").

import { sign, verify, createPublicKey, type KeyObject } from "node:crypto";
import { ServerError } from "../errors.js";
import type { SigningKey } from "./keys.js";
import type { Signer } from "./verify-request.js";

/** First line of the signed bytes; distinct from request and transfer signatures. */
export const GRANT_SIGNATURE_VERSION = "FERRY-GRANT-V1";
/** How long a grant FerryClient signs stays valid. */
export const DEFAULT_GRANT_LIFETIME_MS = 10 * 60 * 1000;
/** The longest a node accepts: a grant that outlives this is refused, however it was signed. */
export const MAX_GRANT_LIFETIME_MS = 60 * 60 * 1000;
/** Clock skew tolerated on `issuedAt`, as for signed requests. */
const MAX_ISSUE_SKEW_MS = 5 * 60 * 1000;
const MAX_GRANT_BYTES = 2048;

/** What the client permits: job `job` may move from node `source` to node `target` and run there as `client`. */
export interface MigrationGrant {
  client: string;
  job: string;
  source: string;
  target: string;
  /** Unix milliseconds. */
  issuedAt: number;
  /** Unix milliseconds; at most MAX_GRANT_LIFETIME_MS after issuedAt. */
  expiresAt: number;
}

/** As it travels: the grant's exact JSON bytes (base64url) and the client's Ed25519 signature over them. */
export interface SignedGrant {
  grant: string;
  signature: string;
}

export function signGrant(
  key: Pick<SigningKey, "clientId" | "privateKey">,
  what: { job: string; source: string; target: string; now?: number; lifetimeMs?: number },
): SignedGrant {
  const issuedAt = Math.floor(what.now ?? Date.now());
  const grant: MigrationGrant = {
    client: key.clientId,
    job: what.job,
    source: what.source,
    target: what.target,
    issuedAt,
    expiresAt: issuedAt + (what.lifetimeMs ?? DEFAULT_GRANT_LIFETIME_MS),
  };
  const bytes = Buffer.from(JSON.stringify(grant), "utf8");
  return { grant: bytes.toString("base64url"), signature: sign(null, message(bytes), key.privateKey).toString("base64url") };
}

/** A SignedGrant from untrusted JSON (a request body, a transfer header); bad_request if it is not one. */
export function parseSignedGrant(value: unknown): SignedGrant {
  const v = value as Partial<SignedGrant> | null;
  if (
    typeof v !== "object" ||
    v === null ||
    typeof v.grant !== "string" ||
    typeof v.signature !== "string" ||
    v.grant.length > (MAX_GRANT_BYTES * 4) / 3 ||
    !/^[A-Za-z0-9_-]+$/.test(v.grant) ||
    !/^[A-Za-z0-9_-]{86}$/.test(v.signature)
  ) {
    throw new ServerError("bad_request", "grant must be { grant: base64url JSON, signature: base64url Ed25519 signature }");
  }
  return { grant: v.grant, signature: v.signature };
}

/** What the grant must name for this transfer, and the clock to judge its expiry by. */
export interface GrantExpectation {
  client: string;
  job: string;
  source: string;
  target: string;
  now?: number;
}

/**
 * Checks a grant against the client directory of the node judging it and against the transfer it
 * travels with. Returns the client it authorises, or why it does not (a reason, not a throw: the
 * target runs an ungranted job as anonymous rather than refusing it).
 */
export function checkGrant<S extends Signer>(
  clients: { get(id: string): S | undefined },
  signed: SignedGrant,
  expect: GrantExpectation,
): { ok: true; client: S; grant: MigrationGrant } | { ok: false; reason: string } {
  const bytes = Buffer.from(signed.grant, "base64url");
  let grant: MigrationGrant;
  try {
    grant = JSON.parse(bytes.toString("utf8")) as MigrationGrant;
  } catch {
    return { ok: false, reason: "the grant is not JSON" };
  }
  if (typeof grant !== "object" || grant === null) return { ok: false, reason: "the grant is not an object" };
  for (const k of ["client", "job", "source", "target"] as const)
    if (typeof grant[k] !== "string") return { ok: false, reason: `the grant has no ${k}` };
  for (const k of ["issuedAt", "expiresAt"] as const)
    if (!Number.isSafeInteger(grant[k])) return { ok: false, reason: `the grant has no ${k}` };
  for (const k of ["client", "job", "source", "target"] as const) {
    if (grant[k] !== expect[k])
      return { ok: false, reason: `the grant names ${k} ${JSON.stringify(grant[k])}, the transfer ${JSON.stringify(expect[k])}` };
  }
  const now = expect.now ?? Date.now();
  if (grant.expiresAt - grant.issuedAt > MAX_GRANT_LIFETIME_MS)
    return { ok: false, reason: `the grant is valid for longer than ${MAX_GRANT_LIFETIME_MS / 60_000} minutes` };
  if (grant.issuedAt > now + MAX_ISSUE_SKEW_MS) return { ok: false, reason: "the grant is issued in the future" };
  if (now > grant.expiresAt) return { ok: false, reason: "the grant has expired" };
  const client = clients.get(grant.client);
  if (!client) return { ok: false, reason: `client ${grant.client} is not registered on this node` };
  if (client.disabled === true) return { ok: false, reason: `client ${grant.client} is disabled` };
  const sig = Buffer.from(signed.signature, "base64url");
  if (sig.length !== 64 || !verify(null, message(bytes), keyOf(client.publicKey), sig))
    return { ok: false, reason: "the grant's signature is not the client's" };
  return { ok: true, client, grant };
}

function message(grantBytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${GRANT_SIGNATURE_VERSION}\n`, "utf8"), grantBytes]);
}

function keyOf(pem: string): KeyObject {
  return createPublicKey(pem);
}
