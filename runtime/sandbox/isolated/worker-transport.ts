// A sandbox child as a worker thread: the same child script and protocol, without a process
// boundary. Cheaper to start, but it shares the host's process (no permission model of its own,
// no protection from a native crash); the bench's middle point between in-process and isolated.

import { Worker } from "node:worker_threads";
import type { ChildExit, KillReason } from "./exit-trap.js";
import type { ChildEvent, Request } from "./protocol.js";
import type { ChildHandle, HostCallFrame, SpawnOptions } from "./transport.js";
import {
  SHARED_ANSWER,
  SHARED_CAPACITY_BYTES,
  SHARED_HEADER_BYTES,
  SHARED_REQUEST,
  SHARED_SERVING,
  HOST_CALL_MAX_REQUEST_BYTES,
} from "./host-calls.js";

export function spawnWorkerChild(script: URL, options: SpawnOptions): ChildHandle {
  // The host-call channel: the worker writes a request here, rings (a `host-call` message) and
  // blocks in Atomics.wait; the parent answers in place and notifies. The parent never waits.
  const shared = new SharedArrayBuffer(SHARED_HEADER_BYTES + SHARED_CAPACITY_BYTES);
  const control = new Int32Array(shared, 0, 2);
  const data = new Uint8Array(shared, SHARED_HEADER_BYTES);
  const worker = new Worker(script, {
    resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb },
    env: {},
    stdout: true, // the child writes nothing; don't let a stray write reach the host's stdout
    workerData: { hostCalls: shared },
  });
  const hostCallHandlers: Array<(call: HostCallFrame) => void> = [];
  const deliver = (call: HostCallFrame): void => {
    for (const h of hostCallHandlers) h(call);
  };
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
      worker.on("message", (m: ChildEvent) => {
        if (m?.type !== "host-call") return handler(m);
        // Read the shared state once: the child may be scribbling on it (it is not trusted).
        const state = Atomics.load(control, 0);
        const length = Atomics.load(control, 1);
        if (state !== SHARED_REQUEST) return deliver({ violation: `host-call doorbell in state ${state}` });
        if (length <= 0 || length > HOST_CALL_MAX_REQUEST_BYTES)
          return deliver({ violation: `host-call frame of ${length} bytes (limit ${HOST_CALL_MAX_REQUEST_BYTES})` });
        Atomics.store(control, 0, SHARED_SERVING);
        deliver({ body: data.slice(0, length) });
      });
    },
    onHostCall(handler) {
      hostCallHandlers.push(handler);
    },
    answerHostCall(body: Uint8Array) {
      if (exited) return true;
      if (Atomics.load(control, 0) !== SHARED_SERVING || body.byteLength > SHARED_CAPACITY_BYTES) return false;
      data.set(body);
      Atomics.store(control, 1, body.byteLength);
      Atomics.store(control, 0, SHARED_ANSWER);
      Atomics.notify(control, 0);
      return true;
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
