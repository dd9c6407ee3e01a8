// How node commands reach a node: --node (or $FERRY_NODE) names it, --key (or $FERRY_KEY) signs as a
// registered client; both are checked before any request. One FerryClient (server/client.ts) does
// the talking: the CLI has no client of its own.

import { type Stats, statSync } from "node:fs";
import { readKeyFile } from "../auth/index.js";
import { FerryClient, type Followed } from "../client.js";
import type { JobView } from "../node/job-view.js";
import { EXIT } from "./exit-status.js";
import type { Io } from "./options.js";
import { UsageError } from "./usage.js";

const DEFAULT_NODE = "http://127.0.0.1:8080";

/** The options every node command takes. */
export const NODE_OPTIONS = {
  node: { type: "string" as const, default: process.env.FERRY_NODE ?? DEFAULT_NODE },
  key: { type: "string" as const },
  help: { type: "boolean" as const, short: "h", default: false },
};

export function connect(values: { node: string; key?: string | undefined }, needsKey: boolean): FerryClient {
  const keyPath = values.key ?? process.env.FERRY_KEY;
  if (needsKey && keyPath === undefined) throw new UsageError("--key FILE is required (see 'ferry keygen')");
  return new FerryClient({
    url: nodeUrl(values.node),
    ...(keyPath === undefined ? {} : { key: keyFile(keyPath, values.key === undefined) }),
  });
}

/** --node (or $FERRY_NODE): an http(s) URL, checked before any request. */
export function nodeUrl(text: string, flag = "--node"): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // refused below
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new UsageError(
      `${flag} ${text}: not an http:// or https:// URL (e.g. http://127.0.0.1:8080)${process.env.FERRY_NODE === text ? " (from $FERRY_NODE)" : ""}`,
    );
  }
  return text;
}

/** --key (or $FERRY_KEY): a file that is not there is a bad command line; one that is there is read and checked. */
function keyFile(path: string, fromEnv: boolean): ReturnType<typeof readKeyFile> {
  const source = fromEnv ? `$FERRY_KEY ${path}` : `--key ${path}`;
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === "ENOENT"
        ? `${source}: no such file (make a key with 'ferry keygen --out ${path}')`
        : `${source}: cannot read it (${code ?? String(e)})`,
    );
  }
  if (!stats.isFile()) throw new UsageError(`${source}: not a file`);
  return readKeyFile(path);
}

/**
 * The job where it lives now (FerryClient.follow), or here only with `follow` false. A chase that
 * stopped on the way is an error naming where the job went: the last record found says too little.
 */
export async function locate(c: FerryClient, id: string, follow: boolean, io: Io): Promise<Followed> {
  if (!follow) return { view: await c.job(id), at: c, path: [] };
  const found = await c.follow(id);
  if (found.stopped) throw new FollowError(id, found.stopped.reason, found.stopped.error);
  if (found.path.length > 1) io.stderr.write(`ferry: job ${id} moved: ${found.path.join(" -> ")} (now at ${found.at.url})\n`);
  return found;
}

/**
 * A moved job that could not be followed to where it is: 5 (unavailable) when the node it went to
 * cannot be reached or is busy, 3 when it refused (no such job there, or it does not know the key).
 */
export class FollowError extends Error {
  override readonly name = "FollowError";
  readonly exitStatus: number;

  constructor(id: string, reason: string, cause: unknown) {
    const status = (cause as { status?: unknown } | undefined)?.status;
    const why =
      typeof status === "number"
        ? `: ${status} ${(cause as { code?: string }).code}: ${(cause as Error).message}${status === 401 ? " (that node does not accept this key: docs/auth.md, 'Following a job')" : ""}`
        : cause instanceof Error
          ? ` (${(cause.cause as { code?: string } | undefined)?.code ?? cause.message})`
          : "";
    super(`job ${id} ${reason}${why}; 'ferry status ${id} --no-follow' shows this node's record`);
    this.exitStatus = typeof status === "number" && status !== 503 && status < 500 ? EXIT.rejected : EXIT.unavailable;
  }
}

/**
 * The exit status of a job a command waited for (exit-status.ts): 1 if it ended trapped, failed or
 * cancelled; 0 if it completed, or is still running, paused or moved when the wait ends.
 */
export function waitedStatus(view: JobView): number {
  return ["trapped", "failed", "cancelled"].includes(view.state) ? EXIT.failed : EXIT.ok;
}

export function printHelp(io: Io, text: string): number {
  io.stdout.write(`${text}\n`);
  return EXIT.ok;
}
