// How any failure of a `ferry` command becomes one line on stderr (no stack trace) and its exit status.

import { FerryError } from "../../runtime/light.js";
import { ServerError, type ServerErrorCode } from "../errors.js";
import { EXIT } from "./exit-status.js";
import { UsageError } from "./usage.js";

/** Server codes that are not "rejected input" (3). */
const SERVER_CODE_STATUS: Partial<Record<ServerErrorCode, number>> = {
  data_dir_in_use: EXIT.unavailable,
  address_in_use: EXIT.unavailable,
  data_dir_unusable: EXIT.usage,
  address_unusable: EXIT.usage,
  internal: EXIT.internal,
  store_corrupt: EXIT.internal,
  // better-sqlite3 (an optional peer dependency) is not installed: the same command works once it is.
  store_unavailable: EXIT.unavailable,
  overloaded: EXIT.unavailable,
};

/** The exit status and the one line (without "ferry: ") that any failure of `command` stands for. */
export function describeFailure(e: unknown, command: string | undefined): { status: number; line: string } {
  if (e instanceof UsageError || (e as { code?: unknown }).code?.toString().startsWith("ERR_PARSE_ARGS")) {
    const help = command ? `ferry ${command} --help` : "ferry --help";
    return { status: EXIT.usage, line: `${e instanceof UsageError ? oneLine(e.message) : parseArgsMessage(e as Error)} (see '${help}')` };
  }
  if (e instanceof ServerError)
    return { status: SERVER_CODE_STATUS[e.code] ?? EXIT.rejected, line: `error ${e.code}: ${oneLine(e.message)}` };
  if (e instanceof FerryError) return { status: EXIT.rejected, line: `error ${e.code}: ${oneLine(e.message)}` };
  if (isHttpError(e)) {
    const status = e.status === 503 ? EXIT.unavailable : e.status >= 500 ? EXIT.internal : EXIT.rejected;
    return { status, line: `${e.status} ${e.code}: ${oneLine(e.message)}` };
  }
  // An error that knows its status (a moved job that cannot be followed, connect.ts).
  if (e instanceof Error && typeof (e as { exitStatus?: unknown }).exitStatus === "number")
    return { status: (e as unknown as { exitStatus: number }).exitStatus, line: oneLine(e.message) };
  const unreachable = unreachableNode(e);
  if (unreachable) return { status: EXIT.unavailable, line: unreachable };
  const message = e instanceof Error ? e.message : String(e);
  // A bug: one line by default; FERRY_DEBUG=1 adds the stack for a report.
  const stack = process.env.FERRY_DEBUG && e instanceof Error && e.stack ? `\n${e.stack}` : " (FERRY_DEBUG=1 shows where)";
  return { status: EXIT.internal, line: `internal error: ${oneLine(message)}${stack}` };
}

/** The client's HttpError, known by shape: importing the client here would load it for every command. */
function isHttpError(e: unknown): e is Error & { status: number; code: string } {
  return e instanceof Error && e.name === "HttpError" && typeof (e as { status?: unknown }).status === "number";
}

/** fetch's "fetch failed" with the socket error under it: the node is not there. */
function unreachableNode(e: unknown): string | undefined {
  if (!(e instanceof TypeError) || !/fetch failed/.test(e.message)) return undefined;
  const cause = e.cause as (Error & { code?: string; address?: string; port?: number }) | undefined;
  const why = cause?.code ?? cause?.message ?? e.message;
  return `cannot reach the node (${why}); is it running, and do --node or $FERRY_NODE name it?`;
}

/** node:util parseArgs messages, shortened to what the person needs. */
function parseArgsMessage(e: Error): string {
  const unknown = /^Unknown option '([^']+)'/.exec(e.message);
  if (unknown) return `unknown option ${unknown[1]}`;
  const positional = /^Unexpected argument '([^']+)'/.exec(e.message);
  if (positional) return `unexpected argument ${positional[1]}`;
  return oneLine(e.message);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}
