// Entry point of a sandbox child (a forked process, or a worker thread for the bench): hosts at most
// one GuestInstance at a time and answers the pool's requests. Imports only what running a guest
// needs (no binaryen: the code segment arrives instrumented), since every import costs cold start.

import { FerryError } from "../../errors.js";
import { GuestInstance } from "../../exec/guest-instance.js";
import { GuestModule } from "../../exec/guest-module.js";
import { CHILD_MODULE_CACHE, LOG_BATCH_LINES, LOG_BATCH_MS, LOG_UNBATCHED_PER_WINDOW, type ChildEvent, type InstanceView, type ProbeReport, type Reply, type Request } from "./protocol.js";

interface Port {
  send(message: ChildEvent): void;
  onMessage(handler: (message: Request) => void): void;
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
      instance?.dispose();
      instance = undefined;
      const module = moduleFor(request);
      if (!module) {
        return { id, type: "reply", ok: false, needSegment: true, error: { code: "unknown_module", detail: request.codeHash, message: "module not loaded in this child" } };
      }
      const created = new GuestInstance(module, request.config, { ...request.options, onLog });
      if (request.snapshot) created.applySnapshot(request.snapshot);
      instance = created;
      // The parent holds the snapshot's output already.
      outputSent = request.snapshot?.output.byteLength ?? 0;
      pendingLogs = [];
      return { id, type: "reply", ok: true, view: view() };
    }
    case "run": {
      const result = await live().run(request.entry, request.args, { fuel: request.fuel, fuelLimit: request.fuelLimit });
      return { id, type: "reply", ok: true, result, view: view() };
    }
    case "resume": {
      const result = await live().resume({ fuel: request.fuel });
      return { id, type: "reply", ok: true, result, view: view() };
    }
    case "snapshot": {
      const current = live();
      const snapshot = await current.snapshot({ move: request.move });
      if (request.move) instance = undefined;
      return { id, type: "reply", ok: true, snapshot, view: request.move ? undefined : view() };
    }
    case "dispose":
      instance?.dispose();
      instance = undefined;
      outputSent = 0;
      pendingLogs = [];
      return { id, type: "reply", ok: true };
    case "probe":
      return { id, type: "reply", ok: true, probe: await probe(request.scratchPath) };
  }
}

function live(): GuestInstance {
  if (!instance) throw new FerryError("instance_disposed", "the sandbox child hosts no instance");
  return instance;
}

port.onMessage((request) => {
  handle(request).then(
    (reply) => port.send(reply),
    (error: unknown) => {
      const e = error instanceof FerryError
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
    return {
      send: (message) => void send(message),
      onMessage: (handler) => void process.on("message", (m) => handler(m as Request)),
    };
  }
  const { parentPort } = await import("node:worker_threads");
  if (!parentPort) throw new Error("child-main.js runs only as a forked sandbox child or a worker thread");
  return {
    send: (message) => parentPort.postMessage(message),
    onMessage: (handler) => void parentPort.on("message", (m: Request) => handler(m)),
  };
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
  };
}
