// A sandbox child as a separate OS process (child_process.fork), locked down by Node's permission
// model: it may read only the compiled runtime it runs, and cannot write files, spawn processes or
// start workers. Its V8 heap is capped; its stderr tail tells an out-of-memory abort from a crash.

import { type ChildProcess, fork } from "node:child_process";
import { dirname } from "node:path";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { HEAP_OOM_PATTERN, type ChildExit, type KillReason } from "./exit-trap.js";
import type { ChildEvent, Request } from "./protocol.js";
import type { ChildHandle, HostCallFrame, SpawnOptions } from "./transport.js";
import {
  FRAME_PREFIX_BYTES,
  HOST_CALL_ANSWER_FD,
  HOST_CALL_MAX_ANSWER_BYTES,
  HOST_CALL_MAX_REQUEST_BYTES,
  HOST_CALL_REQUEST_FD,
  frame,
} from "./host-calls.js";

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
    // fd 3: IPC. fds 4 and 5: the host-call channel (requests from the child, answers to it), which
    // the child reads and writes with blocking fs calls: the permission model checks paths, not
    // inherited fds, so this opens nothing new to it.
    stdio: ["ignore", "ignore", "pipe", "ipc", "pipe", "pipe"],
    // Nothing of the host's environment (tokens, NODE_OPTIONS) reaches guest-hosting processes.
    env: {},
  });
  return processHandle(child, new ExitWatch(child), new HostCallPipes(child));
}

/** How the child ended, reported once: its kill reason, exit code or signal, and whether its stderr tail shows a heap OOM. */
class ExitWatch {
  killedBy: KillReason | undefined;
  exited = false;
  private stderrTail = "";
  private outOfMemory = false;
  private readonly handlers: Array<(exit: ChildExit) => void> = [];

  constructor(child: ChildProcess) {
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
      if (HEAP_OOM_PATTERN.test(this.stderrTail)) this.outOfMemory = true;
    });
    // 'close' comes after 'exit' once stdio is drained, so the stderr tail is complete.
    child.on("close", (code, signal) => this.finish(code, signal));
    child.on("error", () => {
      if (child.exitCode === null && child.signalCode === null && child.pid === undefined) this.finish(null, null);
    });
  }

  onExit(handler: (exit: ChildExit) => void): void {
    this.handlers.push(handler);
  }

  private finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    const exit: ChildExit = {
      killedBy: this.killedBy,
      signal,
      code,
      outOfMemory: this.outOfMemory || HEAP_OOM_PATTERN.test(this.stderrTail),
    };
    for (const h of this.handlers) h(exit);
  }
}

/** The host-call channel's two pipes: requests from the child (fd 4, reassembled into frames), answers to it (fd 5). */
class HostCallPipes {
  readonly requests: Socket | null;
  readonly answers: Socket | null;
  readonly handlers: Array<(call: HostCallFrame) => void> = [];

  constructor(child: ChildProcess) {
    const stdio = child.stdio as unknown as Array<Socket | null | undefined>;
    this.requests = stdio[HOST_CALL_REQUEST_FD] ?? null;
    this.answers = stdio[HOST_CALL_ANSWER_FD] ?? null;
    // A dead child's pipes fail with EPIPE/ECONNRESET; its exit is reported by 'close'.
    this.requests?.on("error", () => {});
    this.answers?.on("error", () => {});
    const reader = frameReader(HOST_CALL_MAX_REQUEST_BYTES, (call) => {
      for (const h of this.handlers) h(call);
    });
    this.requests?.on("data", (chunk: Buffer) => reader(chunk));
  }
}

function processHandle(child: ChildProcess, exit: ExitWatch, pipes: HostCallPipes): ChildHandle {
  const channel = (): { ref(): void; unref(): void } | undefined =>
    (child as unknown as { channel?: { ref(): void; unref(): void } }).channel ?? undefined;
  const { requests, answers } = pipes;
  const streams = [child.stderr as Socket | null, requests, answers];
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
    onHostCall(handler) {
      pipes.handlers.push(handler);
    },
    answerHostCall(body: Uint8Array) {
      if (exit.exited || !answers || answers.destroyed) return true;
      answers.write(frame(body));
      // An honest child reads each answer before it asks again; one that does not is piling up
      // buffers in the host.
      return answers.writableLength <= 2 * (FRAME_PREFIX_BYTES + HOST_CALL_MAX_ANSWER_BYTES);
    },
    onExit(handler) {
      exit.onExit(handler);
    },
    kill(reason) {
      exit.killedBy ??= reason;
      if (!exit.exited) child.kill("SIGKILL");
    },
    ref() {
      child.ref();
      channel()?.ref();
      for (const s of streams) s?.ref();
    },
    unref() {
      child.unref();
      channel()?.unref();
      for (const s of streams) s?.unref();
    },
  };
}

/**
 * Reassembles length-prefixed frames from a byte stream. A frame declaring more than `maxBody`
 * bytes (or none) is a violation at once, before any of it is buffered; after a violation the
 * rest of the stream is ignored.
 */
export function frameReader(maxBody: number, deliver: (call: HostCallFrame) => void): (chunk: Uint8Array) => void {
  let chunks: Uint8Array[] = [];
  let buffered = 0;
  let broken = false;
  const take = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = chunks[0]!;
      const k = Math.min(c.byteLength, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.byteLength) chunks.shift();
      else chunks[0] = c.subarray(k);
    }
    buffered -= n;
    return out;
  };
  const peekLength = (): number => {
    const head = new Uint8Array(FRAME_PREFIX_BYTES);
    let at = 0;
    for (const c of chunks) {
      const k = Math.min(c.byteLength, FRAME_PREFIX_BYTES - at);
      head.set(c.subarray(0, k), at);
      at += k;
      if (at === FRAME_PREFIX_BYTES) break;
    }
    return new DataView(head.buffer).getUint32(0, true);
  };
  return (chunk) => {
    if (broken) return;
    chunks.push(chunk);
    buffered += chunk.byteLength;
    while (buffered >= FRAME_PREFIX_BYTES) {
      const length = peekLength();
      if (length === 0 || length > maxBody) {
        broken = true;
        chunks = [];
        deliver({ violation: `host-call frame of ${length} bytes (limit ${maxBody})` });
        return;
      }
      if (buffered < FRAME_PREFIX_BYTES + length) return;
      take(FRAME_PREFIX_BYTES);
      deliver({ body: take(length) });
    }
  };
}
