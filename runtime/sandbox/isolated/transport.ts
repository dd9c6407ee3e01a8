// The parent's handle on one sandbox child, whichever way it runs: a forked process (the isolated
// sandbox proper) or a worker thread (the bench's middle point). Also finds the compiled child script.

import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { FerryError } from "../../errors.js";
import type { ChildExit, KillReason } from "./exit-trap.js";
import type { ChildEvent, Request } from "./protocol.js";

export type TransportKind = "process" | "worker";

export type HostCallFrame = { body: Uint8Array } | { violation: string };

export interface SpawnOptions {
  /** V8 old-space limit of the child, MiB. */
  maxHeapMb: number;
}

export interface ChildHandle {
  /** OS process id (the parent's own for a worker thread). */
  readonly pid: number | undefined;
  send(request: Request): void;
  onEvent(handler: (event: ChildEvent) => void): void;
  /**
   * Each host-call request the child sends (its body), or the reason its framing is broken (an
   * oversized or garbled frame): the caller then kills the child.
   */
  onHostCall(handler: (call: HostCallFrame) => void): void;
  /** Answer the request being served. False if the child is not taking its answers. */
  answerHostCall(body: Uint8Array): boolean;
  /** Called once, after the child is gone and its stderr drained. */
  onExit(handler: (exit: ChildExit) => void): void;
  kill(reason: KillReason): void;
  /** Keep the parent's event loop alive for this child (a request is outstanding) or not. */
  ref(): void;
  unref(): void;
}

/**
 * The compiled child script next to this module. Loaded from TypeScript source (vitest runs
 * runtime/*.ts), use its twin under dist/, which `npm test` builds first.
 */
export function childScriptUrl(): URL {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return new URL("./child-main.js", here);
  const source = fileURLToPath(new URL("./child-main.ts", here));
  const marker = `${"/"}runtime${"/"}sandbox${"/"}isolated${"/"}`;
  const at = source.lastIndexOf(marker);
  if (at < 0) throw new FerryError("sandbox_unavailable", `cannot locate the dist/ twin of ${source}`);
  return pathToFileURL(`${source.slice(0, at)}/dist${source.slice(at).replace(/\.ts$/, ".js")}`);
}

/** The script, checked to exist, with a message that says how to get it. */
export function requireChildScript(): URL {
  const url = childScriptUrl();
  if (!existsSync(url)) {
    throw new FerryError(
      "sandbox_unavailable",
      `${fileURLToPath(url)} is missing: the isolated sandbox runs compiled JS, run \`npm run build\` first`,
    );
  }
  return url;
}
