// A sandbox child as a worker thread: the same child script and protocol, without a process
// boundary. Cheaper to start, but it shares the host's process (no permission model of its own,
// no protection from a native crash); the bench's middle point between in-process and isolated.

import { Worker } from "node:worker_threads";
import type { ChildExit, KillReason } from "./exit-trap.js";
import type { ChildEvent, Request } from "./protocol.js";
import type { ChildHandle, SpawnOptions } from "./transport.js";

export function spawnWorkerChild(script: URL, options: SpawnOptions): ChildHandle {
  const worker = new Worker(script, {
    resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb },
    env: {},
    stdout: true, // the child writes nothing; don't let a stray write reach the host's stdout
  });
  let killedBy: KillReason | undefined;
  let outOfMemory = false;
  let exited = false;
  const exitHandlers: Array<(exit: ChildExit) => void> = [];
  worker.on("error", (error: Error & { code?: string }) => {
    if (error.code === "ERR_WORKER_OUT_OF_MEMORY") outOfMemory = true;
  });
  worker.on("exit", (code) => {
    if (exited) return;
    exited = true;
    const exit: ChildExit = { killedBy, signal: null, code, outOfMemory };
    for (const h of exitHandlers) h(exit);
  });
  return {
    get pid() {
      return process.pid;
    },
    send(request: Request) {
      if (!exited) worker.postMessage(request);
    },
    onEvent(handler) {
      worker.on("message", (m: ChildEvent) => handler(m));
    },
    onExit(handler) {
      exitHandlers.push(handler);
    },
    kill(reason) {
      killedBy ??= reason;
      if (!exited) void worker.terminate();
    },
    ref() {
      worker.ref();
    },
    unref() {
      worker.unref();
    },
  };
}
