// The /peer/balance messages as they travel: a probe or a cancel in a request body, an answer in
// the response. Whatever a peer sends is checked here; the sender's index always comes from the
// signature, never from the body.

import type { Message, ProbeKind } from "../../runtime/balance/index.js";
import { ServerError } from "../errors.js";

/** A policy message from the wire; `from` is always the signer's index, whatever the body says. */
export function parseMessage(body: Record<string, unknown>, from: number): Message {
  const bad = (): never => {
    throw new ServerError("bad_request", "body must be a balance message { kind: probe|cancel, probe?, id }");
  };
  const id = body.id;
  if (!Number.isSafeInteger(id) || (id as number) < 0) bad();
  if (body.kind === "probe") {
    if (body.probe !== "give" && body.probe !== "take") bad();
    return { kind: "probe", probe: body.probe as ProbeKind, id: id as number, from };
  }
  if (body.kind === "cancel") return { kind: "cancel", id: id as number, from };
  return bad();
}

/** The answer a peer returned to `probe`; anything malformed counts as a refusal. */
export function parseAnswer(
  reply: unknown,
  probe: Extract<Message, { kind: "probe" }>,
  from: number,
): Extract<Message, { kind: "answer" }> {
  const a = (reply as { answer?: { kind?: unknown; accept?: unknown; id?: unknown } } | null)?.answer;
  const accept = a?.kind === "answer" && a.id === probe.id && a.accept === true;
  return { kind: "answer", probe: probe.probe, id: probe.id, from, accept };
}
