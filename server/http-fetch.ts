// The subset of `fetch` the client uses (method, headers, a byte body; a streaming Response back),
// over node:http. Node's fetch loads and compiles undici's HTTP parser (a Wasm module) on first use:
// ~100 ms of a `ferry status` that otherwise takes ~150 ms (bench/cli-start.ts). Failures to reach
// the node reject like fetch's: a TypeError "fetch failed" with the socket error as its cause.
// A non-2xx answer becomes an HttpError (here, not in the client: the node's own requests to its peers
// throw the same error, and migration must not import the client).

import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import type { ErrorCode } from "../runtime/light.js";
import type { ServerErrorCode } from "./errors.js";

export interface HttpFetchInit {
  method: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

export function httpFetch(url: string, init: HttpFetchInit): Promise<Response> {
  const target = new URL(url);
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    return Promise.reject(new TypeError("fetch failed", { cause: new Error(`unsupported protocol ${target.protocol} (http: or https:)`) }));
  }
  const transport = target.protocol === "https:" ? https : http;
  const headers = { ...init.headers, "content-length": String(init.body?.byteLength ?? 0) };
  return new Promise<Response>((resolve, reject) => {
    const req = transport.request(target, { method: init.method, headers }, (res) => {
      const status = res.statusCode ?? 0;
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (typeof v === "string") h.set(k, v);
        else if (Array.isArray(v)) for (const x of v) h.append(k, x);
      }
      // Streamed, as fetch's is: GET /jobs/:id/events stays open while the job runs.
      const noBody = status === 204 || status === 304 || init.method === "HEAD";
      if (noBody) res.resume();
      resolve(
        new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
          status,
          statusText: res.statusMessage ?? "",
          headers: h,
        }),
      );
    });
    req.on("error", (e) => reject(new TypeError("fetch failed", { cause: e })));
    req.end(init.body);
  });
}

/**
 * The `code` of an HttpError: the node's own codes (docs/http-api.md, "Errors"), the runtime's codes
 * it passes on (bad modules, arguments), and `timeout` (waitFor ran out of time). A newer node may
 * send a code this list does not have yet; it is passed on as it is.
 */
export type HttpErrorCode = ServerErrorCode | ErrorCode | "timeout";

/** A non-2xx answer: the node's error code and message, and the HTTP status. */
export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: HttpErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Whether `e` is an HttpError (with this code, if given). */
export function isHttpError(e: unknown, code?: HttpErrorCode): e is HttpError {
  return e instanceof HttpError && (code === undefined || e.code === code);
}

/** The HttpError a failed response stands for: the node's `{ error: { code, message } }`, or its status line. */
export async function httpError(response: Response, statusLine: string): Promise<HttpError> {
  let code: HttpErrorCode = "internal";
  let message = statusLine;
  try {
    const parsed = (await response.json()) as { error?: { code?: HttpErrorCode; message?: string } };
    code = parsed.error?.code ?? code;
    message = parsed.error?.message ?? message;
  } catch {
    // not JSON: keep the status line
  }
  return new HttpError(response.status, code, message);
}
