// Entry point of a sandbox child (a forked process, or a worker thread for the bench): hosts at most
// one GuestInstance at a time and answers the pool's requests. Imports only what running a guest
// needs (no binaryen: the code segment arrives instrumented), since every import costs cold start.

import { FerryError } from "../../errors.js";
import { GuestTrap } from "../../traps.js";
import { GuestInstance } from "../../exec/guest-instance.js";
import { GuestModule } from "../../exec/guest-module.js";
import type { InProcessPlacement } from "../../exec/placement.js";
import { DEFAULT_AWAIT_DEADLINE_MS, DEFAULT_MAX_LOG_BYTES, DEFAULT_MAX_OUTPUT_BYTES } from "../../limits.js";
import { CapabilitySet } from "../../resources/capabilities.js";
import { AsyncRemoteDirectory, RemoteDirectory, RemoteFsChannel, remoteResources } from "../../host/index.js";
import { remoteAsk, remoteAskAsync } from "./host-call-client.js";
import {
  FRAME_PREFIX_BYTES,
  HOST_CALL_ANSWER_FD,
  HOST_CALL_MAX_ANSWER_BYTES,
  HOST_CALL_REQUEST_FD,
  SHARED_ANSWER,
  SHARED_CAPACITY_BYTES,
  SHARED_HEADER_BYTES,
  SHARED_IDLE,
  SHARED_REQUEST,
  frame,
  type HostCallFault,
} from "./host-calls.js";
import {
  CHILD_MODULE_CACHE,
  LOG_BATCH_LINES,
  LOG_BATCH_MS,
  LOG_UNBATCHED_PER_WINDOW,
  type ChildEvent,
  type CreateOptions,
  type InstanceView,
  type ProbeReport,
  type Reply,
  type Request,
} from "./protocol.js";

interface Port {
  send(message: ChildEvent): void;
  onMessage(handler: (message: Request) => void): void;
  /** Send a host-call request body (with this declared length) and block until the answer body. */
  hostCall(body: Uint8Array, declaredLength: number): Uint8Array;
}

const port: Port = await openPort();

const modules = new Map<string, GuestModule>();
let instance: GuestInstance | undefined;
/** Bytes of the instance's output the parent already has. */
let outputSent = 0;
let pendingLogs: string[] = [];
/** Start of the current rate window and the lines sent in it unbatched. */
let windowStart = 0;
let sentInWindow = 0;
/** Tests only: how to break the protocol on the next host call. */
let fault: HostCallFault | undefined;

/** A guest's resource call, as a blocking request to the parent (which checks it again). */
function hostCall(body: Uint8Array): Uint8Array {
  const f = fault;
  fault = undefined;
  if (f === "garbage")
    return port.hostCall(
      Uint8Array.from({ length: 32 }, (_, i) => (i * 97 + 0xee) & 0xff),
      32,
    );
  if (f === "oversized") return port.hostCall(body, 0x7fff_fff0);
  return port.hostCall(body, body.byteLength);
}
const ask = remoteAsk(hostCall);
const resources = remoteResources(ask);

/** Awaited host calls sent and not yet answered (an asynchronous directory's), by call number. */
const awaitedAnswers = new Map<number, (body: Uint8Array) => void>();
let nextAwaitedCall = 1;
const askAsync = remoteAskAsync(
  (body) =>
    new Promise<Uint8Array>((resolve) => {
      const call = nextAwaitedCall++;
      awaitedAnswers.set(call, resolve);
      port.send({ type: "host-call-async", call, body });
    }),
);

function onLog(line: string): void {
  pendingLogs.push(line);
  const now = performance.now();
  if (now - windowStart >= LOG_BATCH_MS) {
    windowStart = now;
    sentInWindow = 0;
  }
  // Each line goes out as it is written (the guest may then spin for long); only a flood is
  // batched, so it costs few messages. Lines held back go with the next message or the reply.
  if (sentInWindow < LOG_UNBATCHED_PER_WINDOW || pendingLogs.length >= LOG_BATCH_LINES) {
    port.send({ type: "log", lines: pendingLogs });
    sentInWindow += 1;
    pendingLogs = [];
  }
}

function view(): InstanceView | undefined {
  if (!instance) return undefined;
  const all = instance.output();
  // A slice, not a subarray: structured clone would copy a view's whole underlying buffer.
  const output = all.byteLength > outputSent ? all.slice(outputSent) : new Uint8Array(0);
  outputSent = all.byteLength;
  const logs = pendingLogs;
  pendingLogs = [];
  return { state: instance.state, fuelUsed: instance.fuelUsed, currentRun: instance.currentRun(), output, logs };
}

function moduleFor(request: Extract<Request, { type: "create" }>): GuestModule | undefined {
  let module = modules.get(request.codeHash);
  if (module) return module;
  if (!request.segment) return undefined;
  module = new GuestModule(request.segment);
  if (modules.size >= CHILD_MODULE_CACHE) modules.delete(modules.keys().next().value!);
  modules.set(request.codeHash, module);
  return module;
}

async function handle(request: Request): Promise<Reply> {
  const id = request.id;
  switch (request.type) {
    case "create": {
      awaitedAnswers.clear();
      instance?.dispose();
      instance = undefined;
      const module = moduleFor(request);
      if (!module) {
        return {
          id,
          type: "reply",
          ok: false,
          needSegment: true,
          error: { code: "unknown_module", detail: request.codeHash, message: "module not loaded in this child" },
        };
      }
      const created = new GuestInstance(module, request.config, placementOf(request.options));
      if (request.snapshot) created.applySnapshot(request.snapshot);
      instance = created;
      // The parent holds the snapshot's output already.
      outputSent = request.snapshot?.output.byteLength ?? 0;
      pendingLogs = [];
      return { id, type: "reply", ok: true, view: view() };
    }
    case "run": {
      const result = await live().run(request.entry, request.args, {
        fuel: request.fuel,
        fuelLimit: request.fuelLimit,
        sliceMs: request.sliceMs,
      });
      return { id, type: "reply", ok: true, result, view: view() };
    }
    case "resume": {
      const result = await live().resume({ fuel: request.fuel, sliceMs: request.sliceMs });
      return { id, type: "reply", ok: true, result, view: view() };
    }
    case "snapshot": {
      const current = live();
      const snapshot = await current.snapshot({ move: request.move });
      if (request.move) instance = undefined;
      return { id, type: "reply", ok: true, snapshot, view: request.move ? undefined : view() };
    }
    case "settled":
      await live().settled();
      return { id, type: "reply", ok: true, view: view() };
    case "host-answer":
      return { id, type: "reply", ok: true };
    case "dispose":
      awaitedAnswers.clear();
      instance?.dispose();
      instance = undefined;
      outputSent = 0;
      pendingLogs = [];
      return { id, type: "reply", ok: true };
    case "probe":
      return { id, type: "reply", ok: true, probe: await probe(request.scratchPath) };
    case "fault":
      if (request.hostCall === "unsolicited") {
        // After this reply has gone: a well-formed open, but nobody asked.
        setTimeout(() => {
          try {
            resources.open("x", ["read"]);
          } catch {
            // killed before an answer, or answered with a trap: either way nothing to do
          }
        }, 0);
      } else fault = request.hostCall;
      return { id, type: "reply", ok: true };
  }
}

/**
 * The parent's placement, as the child runs it: in its own thread, its resources behind the
 * host-call channel. The parent normalised it (sandbox/placement.ts); the values arrive as decided.
 */
function placementOf(o: CreateOptions): InProcessPlacement {
  const authenticated = o.trust === "authenticated";
  // One channel for all the trees: what it holds back is flushed before any other call crosses.
  const fs = new RemoteFsChannel(ask, onLog);
  return {
    sandbox: "in-process",
    trust: o.trust,
    input: o.input ?? new Uint8Array(0),
    maxOutputBytes: o.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
    maxLogBytes: o.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES,
    onLog,
    capabilities: authenticated ? new CapabilitySet(o.capabilities ?? []) : undefined,
    resources: authenticated ? resources : undefined,
    wasi: {
      args: o.wasi?.args ?? ["guest"],
      env: o.wasi?.env ?? [],
      // The directories stay with the parent: each is a channel to it, numbered as the parent numbers them.
      preopens: (o.wasi?.preopens ?? []).map((p, tree) =>
        p.async
          ? { guestPath: p.guestPath, directory: new AsyncRemoteDirectory(askAsync, tree, p.readOnly) }
          : { guestPath: p.guestPath, directory: new RemoteDirectory(fs, tree, p.readOnly) },
      ),
    },
    awaitDeadlineMs: o.awaitDeadlineMs ?? DEFAULT_AWAIT_DEADLINE_MS,
  };
}

function live(): GuestInstance {
  if (!instance) throw new FerryError("instance_disposed", "the sandbox child hosts no instance");
  return instance;
}

port.onMessage((request) => {
  if (request.type === "host-answer") {
    const answer = awaitedAnswers.get(request.call);
    awaitedAnswers.delete(request.call);
    answer?.(request.body);
    return;
  }
  handle(request).then(
    (reply) => port.send(reply),
    (error: unknown) => {
      const e =
        error instanceof FerryError
          ? { code: error.code, detail: error.detail, message: error.message }
          : { code: "internal" as const, detail: undefined, message: error instanceof Error ? error.message : String(error) };
      let v: InstanceView | undefined;
      try {
        v = view();
      } catch {
        v = undefined;
      }
      port.send({ id: request.id, type: "reply", ok: false, error: e, view: v });
    },
  );
});
port.send({ type: "ready" });

async function openPort(): Promise<Port> {
  if (typeof process.send === "function") {
    const send = process.send.bind(process);
    // The parent went away: nothing left to serve.
    process.on("disconnect", () => process.exit(0));
    const fs = await import("node:fs");
    return {
      send: (message) => void send(message),
      onMessage: (handler) => void process.on("message", (m) => handler(m as Request)),
      hostCall: (body, declaredLength) => {
        writeAll(fs, HOST_CALL_REQUEST_FD, frame(body, declaredLength));
        const prefix = readExactly(fs, HOST_CALL_ANSWER_FD, FRAME_PREFIX_BYTES);
        const length = new DataView(prefix.buffer).getUint32(0, true);
        if (length > HOST_CALL_MAX_ANSWER_BYTES) throw new GuestTrap("host_error", "host-call answer too long");
        return readExactly(fs, HOST_CALL_ANSWER_FD, length);
      },
    };
  }
  const { parentPort, workerData } = await import("node:worker_threads");
  if (!parentPort) throw new Error("child-main.js runs only as a forked sandbox child or a worker thread");
  const shared = (workerData as { hostCalls?: SharedArrayBuffer } | undefined)?.hostCalls;
  return {
    send: (message) => parentPort.postMessage(message),
    onMessage: (handler) => void parentPort.on("message", (m: Request) => handler(m)),
    hostCall: (body, declaredLength) => {
      if (!shared) throw new GuestTrap("host_error", "this worker has no host-call channel");
      const control = new Int32Array(shared, 0, 2);
      const data = new Uint8Array(shared, SHARED_HEADER_BYTES);
      if (body.byteLength > SHARED_CAPACITY_BYTES) throw new GuestTrap("host_error", "host-call request too long");
      data.set(body);
      Atomics.store(control, 1, declaredLength | 0);
      Atomics.store(control, 0, SHARED_REQUEST);
      parentPort.postMessage({ type: "host-call" });
      // Blocks this thread only; terminate() still ends it (a deadline, a dispose).
      while (Atomics.load(control, 0) !== SHARED_ANSWER) Atomics.wait(control, 0, Atomics.load(control, 0));
      const length = Atomics.load(control, 1);
      if (length < 0 || length > SHARED_CAPACITY_BYTES) throw new GuestTrap("host_error", "host-call answer too long");
      const answer = data.slice(0, length);
      Atomics.store(control, 0, SHARED_IDLE);
      return answer;
    },
  };
}

type Fs = typeof import("node:fs");

/** Blocking I/O on the channel's pipes. EAGAIN (should a pipe be non-blocking) waits a little and retries. */
function writeAll(fs: Fs, fd: number, bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.byteLength) {
    try {
      at += fs.writeSync(fd, bytes, at, bytes.byteLength - at);
    } catch (error) {
      if ((error as { code?: string }).code !== "EAGAIN")
        throw new GuestTrap("host_error", `host-call channel: ${(error as Error).message}`);
      pause();
    }
  }
}

function readExactly(fs: Fs, fd: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    let n: number;
    try {
      n = fs.readSync(fd, out, at, length - at, null);
    } catch (error) {
      if ((error as { code?: string }).code !== "EAGAIN")
        throw new GuestTrap("host_error", `host-call channel: ${(error as Error).message}`);
      pause();
      continue;
    }
    // The parent closed the channel: it is going away (and will end this process).
    if (n === 0) throw new GuestTrap("host_error", "host-call channel closed");
    at += n;
  }
  return out;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function pause(): void {
  Atomics.wait(sleeper, 0, 0, 1);
}

/**
 * Diagnostics only (the security tests): what the permission model allows here. Reached only by a
 * host-side request; guests have no way to send messages.
 */
async function probe(scratchPath: string): Promise<ProbeReport> {
  const permission = (process as { permission?: { has(scope: string, reference?: string): boolean } }).permission;
  const attempt = async (f: () => unknown | Promise<unknown>): Promise<string> => {
    try {
      await f();
      return "allowed";
    } catch (error) {
      return (error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error));
    }
  };
  const fs = await import("node:fs");
  const childProcess = await import("node:child_process");
  const workers = await import("node:worker_threads");
  return {
    envKeys: Object.keys(process.env),
    permission: permission
      ? {
          fsWrite: permission.has("fs.write"),
          childProcess: permission.has("child"),
          worker: permission.has("worker"),
          fsReadEtc: permission.has("fs.read", "/etc/hostname"),
        }
      : null,
    attempts: {
      writeFile: await attempt(() => fs.writeFileSync(scratchPath, "escaped")),
      spawn: await attempt(() => {
        const r = childProcess.spawnSync(process.execPath, ["-e", "0"]);
        if (r.error) throw r.error;
      }),
      worker: await attempt(async () => {
        const w = new workers.Worker("0", { eval: true });
        await w.terminate();
      }),
      readFile: await attempt(() => fs.readFileSync("/etc/hostname")),
    },
    hostChannel:
      typeof process.send === "function"
        ? {
            fstatRequestFd: await attempt(() => fs.fstatSync(HOST_CALL_REQUEST_FD)),
            fstatAnswerFd: await attempt(() => fs.fstatSync(HOST_CALL_ANSWER_FD)),
            openProcFd: await attempt(() => fs.closeSync(fs.openSync(`/proc/self/fd/${HOST_CALL_ANSWER_FD}`, "r"))),
            openDevFd: await attempt(() => fs.closeSync(fs.openSync(`/dev/fd/${HOST_CALL_REQUEST_FD}`, "w"))),
          }
        : null,
  };
}
