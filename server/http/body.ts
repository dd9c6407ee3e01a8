// Request bodies read whole, but never more than a limit: a Content-Length over it is refused before
// reading, and a body that streams past it is cut off (413 either way).

import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { ServerError } from "../errors.js";

export async function readBody(c: Context, limitBytes: number): Promise<Uint8Array> {
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > limitBytes) {
    throw new ServerError("payload_too_large", `body of ${declared} bytes exceeds the ${limitBytes}-byte limit`);
  }
  // On @hono/node-server the Node request is at hand: reading it directly skips the web-streams
  // adapter, which costs more than the rest of a small request.
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming && !incoming.readableEnded) return readIncoming(incoming, limitBytes);
  const stream = c.req.raw.body;
  if (!stream) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limitBytes) {
      await reader.cancel();
      throw new ServerError("payload_too_large", `body exceeds the ${limitBytes}-byte limit`);
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

function readIncoming(incoming: IncomingMessage, limitBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      total += chunk.byteLength;
      if (total > limitBytes) {
        cleanup();
        incoming.resume(); // drain the rest without keeping it
        reject(new ServerError("payload_too_large", `body exceeds the ${limitBytes}-byte limit`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(new ServerError("bad_request", `reading the body failed: ${e.message}`));
    };
    const cleanup = (): void => {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
    };
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onError);
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
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ServerError("bad_request", "body must be a JSON object");
  return value as Record<string, unknown>;
}
