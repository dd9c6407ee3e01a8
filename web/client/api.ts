// The page's one way to the node: the HTTP API, signed with the page's key when it has one (and the
// call wants it), errors as the API's own `{ error: { code, message } }`. Also the job event stream
// (GET /jobs/:id/events), read with fetch because EventSource cannot send the signature headers.

import { pageKey, signRequest } from "./sign.js";

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface CallOptions {
  body?: Uint8Array<ArrayBuffer> | string;
  contentType?: string;
  /** Sign with the page's key if there is one (default true); public reads pass false to spare a nonce. */
  sign?: boolean;
  /** Another node (a peer's origin): then never signed, as the CSP and CORS allow only public reads there. */
  origin?: string;
  signal?: AbortSignal;
}

export async function call(method: string, path: string, o: CallOptions = {}): Promise<Response> {
  const body = typeof o.body === "string" ? new TextEncoder().encode(o.body) : o.body;
  const headers: Record<string, string> = {};
  if (o.contentType) headers["content-type"] = o.contentType;
  const key = pageKey();
  if (key && o.sign !== false && !o.origin) Object.assign(headers, await signRequest(key, method, path, body ?? new Uint8Array(0)));
  const init: RequestInit = { method, headers, cache: "no-store" };
  if (body) init.body = body;
  if (o.signal) init.signal = o.signal;
  const response = await fetch(`${o.origin ?? ""}${path}`, init);
  if (!response.ok) throw await errorOf(response, method, path);
  return response;
}

async function errorOf(r: Response, method: string, path: string): Promise<ApiError> {
  try {
    const e = ((await r.json()) as { error?: { code?: string; message?: string } }).error;
    if (e?.code) return new ApiError(e.code, e.message ?? e.code, r.status);
  } catch {
    // not JSON
  }
  return new ApiError("http_error", `${method} ${path}: HTTP ${r.status}`, r.status);
}

export async function json<T>(method: string, path: string, o: CallOptions & { value?: unknown } = {}): Promise<T> {
  const withBody = o.value === undefined ? o : { ...o, body: JSON.stringify(o.value), contentType: "application/json" };
  return (await (await call(method, path, withBody)).json()) as T;
}

export type JobEvent =
  | { type: "state"; state: string; result: unknown; movedTo?: { node: string; url: string | null }; outputBytes?: number }
  | { type: "log"; line: string }
  | { type: "output"; text: string };

/** Follow a job's events until the stream ends or `signal` aborts. */
export async function jobEvents(id: string, onEvent: (e: JobEvent) => void, signal: AbortSignal): Promise<void> {
  const response = await call("GET", `/jobs/${encodeURIComponent(id)}/events`, { signal });
  if (!response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const bytes = new TextDecoder();
  let buffered = "";
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) return;
    buffered += chunk.value.replaceAll("\r\n", "\n");
    let end: number;
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const event = parseBlock(buffered.slice(0, end), bytes);
      buffered = buffered.slice(end + 2);
      if (event) onEvent(event);
    }
  }
}

// The same SSE reading as server/client-events.ts (the CLI's), which the browser cannot import: the
// page loads only web/client/ (the import rules), and that one decodes base64 with Node's Buffer.
function parseBlock(block: string, bytes: TextDecoder): JobEvent | undefined {
  let kind = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    const colon = line.indexOf(":");
    if (colon === 0) continue;
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") kind = value;
    else if (field === "data") data.push(value);
  }
  const text = data.join("\n");
  if (kind === "log") return { type: "log", line: text };
  if (kind === "output")
    return {
      type: "output",
      text: bytes.decode(
        Uint8Array.from(atob(text), (c) => c.charCodeAt(0)),
        { stream: true },
      ),
    };
  if (kind === "state") return { type: "state", ...(JSON.parse(text) as object) } as JobEvent;
  return undefined;
}

/** Shapes of the API's answers the pages read (docs/http-api.md). */
export interface Load {
  node: string;
  running: number;
  paused: number;
  queued: number;
  inProcessQueue: number;
}
export interface Peer {
  nodeId: string;
  url: string;
}
export interface JobSummary {
  id: string;
  state: string;
  codeHash: string;
  entry: string;
  args: unknown[];
  trust: string;
  sandbox: string;
  node: string;
  epoch: number;
  fuelUsed: number;
  result: { status: string; value?: unknown; code?: string; message?: string } | null;
  movedTo: { node: string; url: string | null; committed: boolean } | null;
  lastCheckpoint: { seq: number; fuel: number; createdAt: number; bytes: number; delta: boolean } | null;
  executionSegment: {
    checkpoint: number;
    memoryPages: number;
    memoryBytes: number;
    touchedPages: number;
    savedFrameBytes: number;
  } | null;
  createdAt: number;
  updatedAt: number;
}
export interface JobView extends JobSummary {
  outputBytes: number;
  /** A WASI job's resources and what a migration does with each, and (stopped) its open descriptors. */
  bindings?: Array<{ resource: string; kind: string; binding: string; attachment: string; action: string; home?: string }>;
  resourceSegment?: {
    checkpoint: number;
    fds: Array<{ fd: number; kind: string; preopen: string | null; path: string; offset: number; rights: string }>;
    sleeping: boolean;
  } | null;
}
export interface ModuleInterface {
  imports: Array<{ module: string; name: string; kind: string; params?: string[]; results?: string[] }>;
  exports: Array<{ name: string; kind: string; params?: string[]; results?: string[] }>;
}
export interface Migration {
  /** Absent from nodes that log moves out only. */
  direction?: "out" | "in";
  at: number;
  job: string | null;
  from: string;
  to: string;
  mode: string;
  downtimeMs: number | null;
  bytes: number;
  precopyRounds: number;
}
