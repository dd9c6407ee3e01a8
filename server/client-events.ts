// GET /jobs/:id/events as typed values: the server-sent event stream parsed as it arrives, output
// chunks decoded from base64 to bytes, state events to objects. Used by FerryClient.events.

import type { JobResult, MovedTo } from "./node/job-view.js";

/** One event of a job's stream (docs/http-api.md, GET /jobs/:id/events). */
export type JobStreamEvent =
  | {
      type: "state";
      state: string;
      /** The job's outcome, or null until it has one. */
      result: JobResult | null;
      /** Where a migrated job lives now. */
      movedTo?: MovedTo;
      /** First event only: the output's size when the stream started; the `output` events continue from there. */
      outputBytes?: number;
    }
  | { type: "log"; line: string }
  | { type: "output"; bytes: Uint8Array };

/** The events of an SSE body, in order, until the server ends the stream; stops reading (and closes it) when the caller stops. */
export async function* jobEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<JobStreamEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  try {
    for (;;) {
      let end: number;
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const event = parseBlock(block);
        if (event) yield event;
      }
      const chunk = await reader.read();
      if (chunk.done) return;
      buffered += decoder.decode(chunk.value, { stream: true }).replaceAll("\r\n", "\n");
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** One SSE block: `event:` names the kind, `data:` lines (joined by newlines) carry it; comments and unknown kinds are skipped. */
function parseBlock(block: string): JobStreamEvent | undefined {
  let kind = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") kind = value;
    else if (field === "data") data.push(value);
  }
  const text = data.join("\n");
  if (kind === "log") return { type: "log", line: text };
  if (kind === "output") return { type: "output", bytes: new Uint8Array(Buffer.from(text, "base64")) };
  if (kind === "state") return { type: "state", ...(JSON.parse(text) as Omit<Extract<JobStreamEvent, { type: "state" }>, "type">) };
  return undefined;
}
