// A sandbox child as a separate OS process (child_process.fork), locked down by Node's permission
// model: it may read only the compiled runtime it runs, and cannot write files, spawn processes or
// start workers. Its V8 heap is capped; its stderr tail tells an out-of-memory abort from a crash.

import { fork } from "node:child_process";
import { dirname } from "node:path";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { HEAP_OOM_PATTERN, type ChildExit, type KillReason } from "./exit-trap.js";
import type { ChildEvent, Request } from "./protocol.js";
import type { ChildHandle, SpawnOptions } from "./transport.js";

/** Bytes of the child's stderr kept for diagnosing how it ended. */
const STDERR_TAIL_BYTES = 16 * 1024;

/** The node flags a sandbox child runs with (documented in docs/sandboxes.md). */
export function childExecArgv(script: URL, options: SpawnOptions): string[] {
  // child-main.js lives in <runtime>/sandbox/isolated/; everything it imports is under <runtime>/.
  const runtimeDir = dirname(dirname(dirname(fileURLToPath(script))));
  return [
    "--experimental-permission",
    `--allow-fs-read=${runtimeDir}/`,
    `--max-old-space-size=${options.maxHeapMb}`,
    "--disable-warning=ExperimentalWarning",
  ];
}

export function spawnProcessChild(script: URL, options: SpawnOptions): ChildHandle {
  const child = fork(fileURLToPath(script), [], {
    execArgv: childExecArgv(script, options),
    serialization: "advanced",
    stdio: ["ignore", "ignore", "pipe", "ipc"],
    // Nothing of the host's environment (tokens, NODE_OPTIONS) reaches guest-hosting processes.
    env: {},
  });
  let stderrTail = "";
  let outOfMemory = false;
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    if (HEAP_OOM_PATTERN.test(stderrTail)) outOfMemory = true;
  });

  let killedBy: KillReason | undefined;
  let exited = false;
  const exitHandlers: Array<(exit: ChildExit) => void> = [];
  const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
    if (exited) return;
    exited = true;
    const exit: ChildExit = { killedBy, signal, code, outOfMemory: outOfMemory || HEAP_OOM_PATTERN.test(stderrTail) };
    for (const h of exitHandlers) h(exit);
  };
  // 'close' comes after 'exit' once stdio is drained, so the stderr tail is complete.
  child.on("close", (code, signal) => finish(code, signal));
  child.on("error", () => {
    if (child.exitCode === null && child.signalCode === null && child.pid === undefined) finish(null, null);
  });

  const channel = (): { ref(): void; unref(): void } | undefined =>
    (child as unknown as { channel?: { ref(): void; unref(): void } }).channel ?? undefined;
  const stderr = child.stderr as Socket | null;

  return {
    get pid() {
      return child.pid;
    },
    send(request: Request) {
      if (!child.connected) return; // it is exiting; 'close' will end the pending call
      child.send(request);
    },
    onEvent(handler) {
      child.on("message", (m) => handler(m as ChildEvent));
    },
    onExit(handler) {
      exitHandlers.push(handler);
    },
    kill(reason) {
      killedBy ??= reason;
      if (!exited) child.kill("SIGKILL");
    },
    ref() {
      child.ref();
      channel()?.ref();
      stderr?.ref();
    },
    unref() {
      child.unref();
      channel()?.unref();
      stderr?.unref();
    },
  };
}
