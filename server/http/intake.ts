// How every request comes in (docs/http-api.md, "Bodies"): the route's body limit, the caller
// authenticated from the request's head alone, a slot for a large body, and only then the body —
// read against the length and sha256 the signature names. A request that fails any step before
// its body is read gets its answer at once, with `connection: close`, and its body is never kept.

import type { Context, MiddlewareHandler } from "hono";
import type { BodyDigest } from "../auth/index.js";
import { ServerError } from "../errors.js";
import type { Caller } from "../node/ferry-node.js";
import { quotasOf } from "../node/quotas.js";
import type { PeerRecord } from "../store/records.js";
import { readBody } from "./body.js";
import { UploadGate, type UploadGateOptions } from "./upload-gate.js";

/** Largest body each kind of route takes, in bytes. */
export interface BodyLimits {
  /** Control messages: commit, abort, hello, balance, pause, resume, migrate, cancel. */
  small: number;
  /** POST /jobs (a job request, with its input inline). */
  json: number;
  /** POST /modules (also bounded by the client's maxModuleBytes). */
  module: number;
  /** PREPARE and PRE-COPY: a snapshot, up to the node's snapshot cap. */
  snapshot: number;
  /** A global reference's call (POST /peer/resources/:pin): at most 1 MiB of data and its header. */
  resourceCall: number;
}

export const DEFAULT_SMALL_BODY_BYTES = 64 * 1024;
export const DEFAULT_JSON_BODY_BYTES = 8 * 1024 * 1024;

/** Large peer transfers received at once (and per peer); large client uploads likewise. */
export const DEFAULT_PEER_UPLOADS: UploadGateOptions = { max: 4, perSender: 2 };
export const DEFAULT_CLIENT_UPLOADS: UploadGateOptions = { max: 8, perSender: 2 };

/** Who a request's head says it comes from; `body` is the signed digest (absent for unsigned requests). */
export interface Authenticated {
  caller: Caller;
  /** Set on /peer routes only: the configured peer that signed the request. */
  peer: PeerRecord | null;
  body: BodyDigest | undefined;
}

export interface RequestHeadInfo {
  method: string;
  /** Path and query, exactly as sent. */
  path: string;
  headers: Headers;
}

/** The caps on large bodies in flight: peer transfers, and client uploads (kept apart, so neither starves the other). */
export interface UploadGates {
  peer: UploadGate;
  client: UploadGate;
}

export function uploadGates(
  peer: UploadGateOptions = DEFAULT_PEER_UPLOADS,
  client: UploadGateOptions = DEFAULT_CLIENT_UPLOADS,
): UploadGates {
  return { peer: new UploadGate("peer transfers", peer), client: new UploadGate("client uploads", client) };
}

export interface IntakeOptions {
  /** Verify the request's head (signature, clock, nonce) or throw `unauthorized`; never sees the body. */
  authenticate: (head: RequestHeadInfo) => Authenticated;
  limits: BodyLimits;
  gates: UploadGates;
}

export interface IntakeVariables {
  caller: Caller;
  peer: PeerRecord | null;
  /** The body, read and checked (routes that read it themselves use readBody). */
  body: Uint8Array;
  /** Read the body now (at most once; routes that check a header first, before reading). */
  readBody: () => Promise<Uint8Array>;
}

type Kind = "none" | keyof BodyLimits;

interface Route {
  kind: Kind;
  /** Which uploads gate a large body waits for. */
  gate: "peer" | "client" | null;
  /** The handler reads the body itself, after checks of its own. */
  defer: boolean;
}

function routeOf(method: string, path: string): Route {
  if (method === "GET" || method === "HEAD") return { kind: "none", gate: null, defer: false };
  if (method === "POST" && (path === "/peer/migrations/prepare" || path === "/peer/migrations/precopy"))
    return { kind: "snapshot", gate: "peer", defer: true };
  // Not gated: a peer's calls on a pin come one at a time, each at most resourceCall bytes; read after the pin's checks.
  if (method === "POST" && /^\/peer\/resources\/[^/]+$/.test(path)) return { kind: "resourceCall", gate: null, defer: true };
  if (method === "POST" && path === "/modules") return { kind: "module", gate: "client", defer: false };
  if (method === "POST" && path === "/jobs") return { kind: "json", gate: "client", defer: false };
  return { kind: "small", gate: null, defer: false };
}

export function intake(options: IntakeOptions): MiddlewareHandler<{ Variables: IntakeVariables }> {
  const gates = options.gates;
  return async (c, next) => {
    const method = c.req.method;
    const route = routeOf(method, c.req.path);
    let read = route.kind === "none";
    let release: (() => void) | undefined;
    try {
      let limit = route.kind === "none" ? 0 : options.limits[route.kind];
      const declared = contentLength(c);
      // Cheapest first: a body too large for the route is refused before any signature is checked.
      if (route.kind !== "none" && declared !== undefined && declared > limit) {
        throw new ServerError("payload_too_large", `body of ${declared} bytes exceeds the ${limit}-byte limit of ${method} ${c.req.path}`);
      }
      const url = new URL(c.req.url);
      const who = options.authenticate({ method, path: url.pathname + url.search, headers: c.req.raw.headers });
      if (route.kind === "module" && who.caller) limit = Math.min(limit, quotasOf(who.caller).maxModuleBytes);
      if (who.body && route.kind !== "none") {
        if (who.body.length > limit)
          throw new ServerError(
            "payload_too_large",
            `signed body of ${who.body.length} bytes exceeds the ${limit}-byte limit of ${method} ${c.req.path}`,
          );
        if (declared !== undefined && declared !== who.body.length) {
          throw new ServerError("bad_request", `content-length ${declared} is not the signed body length ${who.body.length}`);
        }
      }
      const size = who.body?.length ?? declared ?? limit;
      if (route.gate && size > options.limits.small) {
        release = gates[route.gate].acquire(
          who.peer ? `peer ${who.peer.nodeId}` : who.caller ? `client ${who.caller.id}` : "anonymous callers",
        );
      }
      c.set("caller", who.caller);
      c.set("peer", who.peer);
      let body: Promise<Uint8Array> | undefined;
      const readOnce = (): Promise<Uint8Array> =>
        (body ??= route.kind === "none" ? Promise.resolve(new Uint8Array(0)) : readBody(c, limit, who.body)).then((b) => {
          read = true;
          return b;
        });
      c.set("readBody", readOnce);
      if (!route.defer) c.set("body", await readOnce());
      await next();
    } catch (e) {
      if (!read) c.header("connection", "close");
      throw e;
    } finally {
      release?.();
    }
    // A handler refused the request before reading its body: close the connection, not drain it.
    if (!read) c.header("connection", "close");
  };
}

/** The Content-Length header as a number, if there is one (the HTTP parser has checked its form). */
function contentLength(c: Context): number | undefined {
  const v = c.req.header("content-length");
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new ServerError("bad_request", "content-length must be a non-negative integer");
  return n;
}
