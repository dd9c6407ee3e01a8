// Request bodies read whole, but never more than a limit, and — for signed requests — checked
// against the length and sha256 the signature names while they stream in: a body that runs past
// its signed length or the limit is cut off at once, and nothing unsigned is ever kept.

import { createHash, type Hash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { bodyMismatch, type BodyDigest } from "../auth/index.js";
import { ServerError } from "../errors.js";

/**
 * The body, at most `limitBytes`. With `expected` (the signed length and digest) it must be exactly
 * that body: more bytes than signed end the read at once (401), and so does a different digest.
 */
export async function readBody(c: Context, limitBytes: number, expected?: BodyDigest): Promise<Uint8Array> {
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > limitBytes) {
    throw new ServerError("payload_too_large", `body of ${declared} bytes exceeds the ${limitBytes}-byte limit`);
  }
  if (expected && expected.length > limitBytes) {
    throw new ServerError("payload_too_large", `signed body of ${expected.length} bytes exceeds the ${limitBytes}-byte limit`);
  }
  const check = new BodyCheck(limitBytes, expected);
  // On @hono/node-server the Node request is at hand: reading it directly skips the web-streams
  // adapter, which costs more than the rest of a small request.
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming && !incoming.readableEnded) return readIncoming(incoming, check);
  const stream = c.req.raw.body;
  if (!stream) return check.finish();
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    try {
      check.add(value);
    } catch (e) {
      await reader.cancel().catch(() => undefined);
      throw e;
    }
  }
  return check.finish();
}

/** Counts, keeps and (when a digest is expected) hashes the chunks; throws the moment a chunk breaks a bound. */
class BodyCheck {
  private readonly chunks: Uint8Array[] = [];
  private total = 0;
  private readonly hash: Hash | undefined;

  constructor(
    private readonly limitBytes: number,
    private readonly expected: BodyDigest | undefined,
  ) {
    this.hash = expected ? createHash("sha256") : undefined;
  }

  add(chunk: Uint8Array): void {
    this.total += chunk.byteLength;
    if (this.expected && this.total > this.expected.length)
      throw bodyMismatch(`the body runs past its signed length of ${this.expected.length} bytes`);
    if (this.total > this.limitBytes) throw new ServerError("payload_too_large", `body exceeds the ${this.limitBytes}-byte limit`);
    this.hash?.update(chunk);
    this.chunks.push(chunk);
  }

  finish(): Uint8Array {
    if (this.expected) {
      if (this.total !== this.expected.length)
        throw bodyMismatch(`the body is ${this.total} bytes, the signature names ${this.expected.length}`);
      if (this.hash!.digest("hex") !== this.expected.sha256) throw bodyMismatch("the body's sha256 is not the one the signature names");
    }
    return this.chunks.length === 1 ? this.chunks[0]! : this.chunks.length === 0 ? new Uint8Array(0) : Buffer.concat(this.chunks);
  }
}

function readIncoming(incoming: IncomingMessage, check: BodyCheck): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      try {
        check.add(chunk);
      } catch (e) {
        cleanup();
        // Stop reading: the socket closes after the answer (the intake marks it `connection: close`),
        // so no further byte of a refused body is kept or even read past the drain.
        incoming.pause();
        reject(e);
      }
    };
    const onEnd = (): void => {
      cleanup();
      try {
        resolve(check.finish());
      } catch (e) {
        reject(e);
      }
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(new ServerError("bad_request", `reading the body failed: ${e.message}`));
    };
    const onClose = (): void => {
      if (incoming.readableEnded) return;
      cleanup();
      reject(new ServerError("bad_request", "the connection closed before the body was complete"));
    };
    const cleanup = (): void => {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
      incoming.off("close", onClose);
    };
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onError);
    incoming.on("close", onClose);
  });
}

/** A JSON object body; anything else is a 400 that says what was wrong. */
export function parseJsonObject(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new ServerError("bad_request", `body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new ServerError("bad_request", "body must be a JSON object");
  return value as Record<string, unknown>;
}
