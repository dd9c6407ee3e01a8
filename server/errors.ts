// Server-side errors (store, auth, API): a closed code set with one fixed message each, the HTTP
// status every code maps to, and one function turning any thrown value into the JSON error body.

import { FerryError, type ErrorCode } from "../runtime/light.js";

export const SERVER_ERROR_MESSAGES = {
  bad_request: "malformed request",
  unauthorized: "request is not authenticated",
  forbidden: "not allowed",
  quota_exceeded: "request exceeds the client's quota",
  not_found: "no such resource",
  sandbox_not_allowed: "the job cannot run in the sandbox it asked for",
  conflict: "conflicts with the current state",
  out_of_order: "a call's sequence number is not the next one (nor a retry of the last)",
  payload_too_large: "request body is too large",
  too_many_requests: "too many requests from this caller at once",
  overloaded: "the node is too busy to take this request now",
  peer_error: "a peer this request depends on failed",
  store_corrupt: "stored data failed its integrity check",
  store_version: "data directory was written by an incompatible version of Ferry",
  store_unavailable: "a node's store needs better-sqlite3, which is not installed or does not load",
  data_dir_in_use: "the data directory is owned by another process",
  data_dir_unusable: "the data directory cannot be used",
  address_in_use: "the address to listen on is in use",
  address_unusable: "cannot listen on that address",
  internal: "internal error",
} as const;

export type ServerErrorCode = keyof typeof SERVER_ERROR_MESSAGES;

/** Why a request failed authentication: finer than the HTTP status, for clients, logs and tests. */
export type AuthFailure =
  | "missing_header"
  | "malformed_header"
  | "expired_timestamp"
  | "unknown_client"
  | "disabled_client"
  | "bad_signature"
  | "replayed_nonce";

/** Statuses per RFC 9110 §15; quota_exceeded is 403 (the request is understood, the client may not). */
export const SERVER_HTTP_STATUS: Readonly<Record<ServerErrorCode, number>> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  quota_exceeded: 403,
  not_found: 404,
  sandbox_not_allowed: 400,
  conflict: 409,
  out_of_order: 409,
  payload_too_large: 413,
  too_many_requests: 429,
  overloaded: 503,
  peer_error: 502,
  store_corrupt: 500,
  store_version: 500,
  // Start-up failures of a node: never sent over HTTP, but every code has a status.
  data_dir_in_use: 409,
  store_unavailable: 503,
  data_dir_unusable: 500,
  address_in_use: 409,
  address_unusable: 500,
  internal: 500,
};

/**
 * Statuses for the runtime's codes when they cross HTTP. Bad modules and snapshots are 422 (well-formed
 * request, unacceptable content); codes not listed fall back to 422 so a new runtime code is never a 500.
 */
export const RUNTIME_HTTP_STATUS: Readonly<Partial<Record<ErrorCode, number>>> = {
  module_limit: 413,
  snapshot_limit: 413,
  invalid_arguments: 400,
  invalid_option: 400,
  // A transfer's directory trees that do not hold together: the peer's request is bad, like any other malformed body part.
  tree_malformed: 400,
  entry_not_found: 404,
  unknown_module: 404,
  instance_disposed: 409,
  instance_busy: 409,
  instance_not_paused: 409,
  instance_finished: 409,
  sandbox_unavailable: 503,
  compiler_busy: 503,
};

export class ServerError extends Error {
  override readonly name = "ServerError";
  readonly code: ServerErrorCode;
  readonly detail: string | undefined;
  /** Set on `unauthorized` only. */
  readonly reason: AuthFailure | undefined;

  constructor(code: ServerErrorCode, detail?: string, options?: { cause?: unknown; reason?: AuthFailure }) {
    super(detail ? `${SERVER_ERROR_MESSAGES[code]}: ${detail}` : SERVER_ERROR_MESSAGES[code], options);
    this.code = code;
    this.detail = detail;
    this.reason = options?.reason;
  }

  get status(): number {
    return SERVER_HTTP_STATUS[this.code];
  }

  toJSON(): { code: ServerErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isServerError(e: unknown, code?: ServerErrorCode): e is ServerError {
  return e instanceof ServerError && (code === undefined || e.code === code);
}

export interface ErrorBody {
  error: { code: string; message: string };
}

/** The status and `{ error: { code, message } }` body for anything thrown; unknown errors hide their text. */
export function errorResponse(e: unknown): { status: number; body: ErrorBody } {
  if (e instanceof ServerError) return { status: e.status, body: { error: e.toJSON() } };
  if (e instanceof FerryError) return { status: RUNTIME_HTTP_STATUS[e.code] ?? 422, body: { error: e.toJSON() } };
  return { status: 500, body: { error: { code: "internal", message: SERVER_ERROR_MESSAGES.internal } } };
}
