// What every route knows of its request once the intake has run (server/http/intake.ts): who signed
// it — a client, a configured peer, or nobody — and its body. The accessors here are the one place a
// route turns "nobody signed this" into a 401.

import type { Context } from "hono";
import { ServerError } from "../errors.js";
import type { Caller } from "../node/ferry-node.js";
import type { ClientRecord, PeerRecord } from "../store/records.js";
import type { IntakeVariables } from "./intake.js";

export interface Env {
  Variables: IntakeVariables;
}

/** The signing client, or null for an anonymous request. */
export function callerOf(c: Context<Env>): Caller {
  return c.get("caller");
}

/** The signing client; a 401 for an unsigned request (`what` says what needed the signature). */
export function clientOf(c: Context<Env>, what = "this endpoint needs a signed request"): ClientRecord {
  const who = c.get("caller");
  if (!who) throw new ServerError("unauthorized", what, { reason: "missing_header" });
  return who;
}

/** The configured peer that signed a /peer request (the intake verified it from the head, before the body). */
export function peerOf(c: Context<Env>): PeerRecord {
  const peer = c.get("peer");
  if (!peer) throw new ServerError("unauthorized", "/peer routes need a configured peer's signature", { reason: "missing_header" });
  return peer;
}
