// The node's socket, bound before its data directory is touched: a port in use or a host that is not
// this machine's is found before anything is written, and named in one typed error. Until the node
// is ready (its jobs recovered) every request is answered 503 "starting".

import { createAdaptorServer } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { ServerError } from "./errors.js";

type Fetch = (request: Request, env?: unknown) => Response | Promise<Response>;

export interface Listening {
  url: string;
  port: number;
  /** From now on requests go to `fetch`. */
  handle(fetch: Fetch): void;
  /** Idempotent: stops listening and closes open connections. */
  close(): Promise<void>;
}

const starting: Fetch = () =>
  new Response(
    JSON.stringify({ error: { code: "overloaded", message: "the node is starting (recovering its jobs); try again in a moment" } }),
    {
      status: 503,
      headers: { "content-type": "application/json", "retry-after": "1" },
    },
  );

export async function listen(host: string, port: number): Promise<Listening> {
  let current: Fetch = starting;
  const server = createAdaptorServer({ fetch: (request: Request, env: unknown) => current(request, env) });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(listenError(e, host, port)));
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${bound}`,
    port: bound,
    handle: (fetch) => {
      current = fetch;
    },
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      })),
  };
}

function listenError(e: NodeJS.ErrnoException, host: string, port: number): ServerError {
  const where = `${host}:${port}`;
  switch (e.code) {
    case "EADDRINUSE":
      return new ServerError(
        "address_in_use",
        `${where} is in use by another process; choose another port (0 lets the system pick a free one), or stop that process`,
        { cause: e },
      );
    case "EACCES":
      return new ServerError(
        "address_unusable",
        `${where}: permission denied (ports below 1024 need privileges); choose a port from 1024 up`,
        { cause: e },
      );
    case "EADDRNOTAVAIL":
      return new ServerError(
        "address_unusable",
        `${host} is not an address of this machine; use one it has (127.0.0.1, 0.0.0.0 for all, ::1)`,
        { cause: e },
      );
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_FAIL":
      return new ServerError(
        "address_unusable",
        `host "${host}" does not resolve to an address; use an IP address of this machine (127.0.0.1, 0.0.0.0 for all, ::1)`,
        { cause: e },
      );
    default:
      return new ServerError("address_unusable", `cannot listen on ${where}: ${e.code ?? e.message}`, { cause: e });
  }
}
