// The host's side of the resource worker (resource-worker.ts): one worker thread per process runs
// every FileResources call of the off-thread providers (off-thread-resources.ts), so the disk I/O a
// guest causes never runs on the host's event loop. Calls are messages with ids, answered in order.
// The worker never keeps the host alive while idle, exits after a while with nothing open, and is
// started again when it dies; a death answers every call in flight with a host_error trap, and the
// temp files of the handles it held are removed by the next worker before it serves anything else.

import { compiledRoomDir } from "../dist-twin.js";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { FerryError } from "../errors.js";
import { GuestTrap } from "../traps.js";
import type { ResourceAnswer, ResourceRequest, RootSpec } from "./resource-worker.js";
import { FsError } from "./directory.js";

/** An idle worker (no call in flight, no handle open) exits after this long, ms. */
export const DEFAULT_RESOURCE_IDLE_MS = 30_000;
/** V8 heap of the worker, MiB: it holds handle records and at most one 1 MiB buffer per call. */
const RESOURCE_WORKER_HEAP_MB = 64;
/**
 * Calls waiting for the worker at once. Each isolated child has at most one outstanding, so this is
 * far above what a node can ask; past it a call traps host_error instead of queueing without bound.
 */
const MAX_PENDING_CALLS = 4096;

export interface ResourceThreadOptions {
  /** An idle worker exits after this long, ms. Default 30 s. */
  idleMs?: number;
}

export interface ResourceThreadStats {
  /** Calls a worker answered. */
  served: number;
  /** Thread ids those answers came from (never the host's own: tests check it). */
  servedOn: number[];
  /** Calls sent and not answered yet. */
  pending: number;
  /** Handles open in the current worker. */
  openHandles: number;
  /** Whether a worker is running now (it exits when idle, and starts again at the next call). */
  alive: boolean;
  /** Workers started. */
  workersStarted: number;
  /** Workers that died with calls in flight or handles open (not idle exits or close()). */
  workersLost: number;
}

type Request = ResourceRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;
export type Answered = Extract<ResourceAnswer, { ok: true }>;

interface Pending {
  resolve(answer: Answered): void;
  reject(error: Error): void;
}

interface Current {
  worker: Worker;
  generation: number;
  /** Handles open in this worker, with their roots (swept if the worker dies). */
  handles: Map<number, RootSpec>;
  /** Directory files open in this worker (off-thread-directory.ts): they keep it from idling out. */
  files: Set<number>;
  /** Ids of the calls sent to this worker and not answered yet (its death answers exactly these). */
  calls: Set<number>;
  idleTimer: NodeJS.Timeout | undefined;
  /** Why the worker is being stopped on purpose. */
  stopping: "idle" | "close" | "kill" | undefined;
  error: string | undefined;
}

export class ResourceThread {
  private readonly idleMs: number;
  private current: Current | undefined;
  private generation = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Roots a dead worker held handles in: the next worker sweeps their temp files first. */
  private readonly debris = new Map<string, RootSpec>();
  private readonly counters = { served: 0, workersStarted: 0, workersLost: 0 };
  private readonly servedOn = new Set<number>();
  private closed = false;

  constructor(options: ResourceThreadOptions = {}) {
    const idle = options.idleMs ?? DEFAULT_RESOURCE_IDLE_MS;
    if (!Number.isSafeInteger(idle) || idle < 0)
      throw new FerryError("invalid_option", `\`idleMs\` must be a non-negative integer, got ${String(idle)}`);
    this.idleMs = idle;
  }

  get stats(): ResourceThreadStats {
    return {
      ...this.counters,
      servedOn: [...this.servedOn],
      pending: this.pending.size,
      openHandles: this.current?.handles.size ?? 0,
      alive: this.current !== undefined,
    };
  }

  /** The generation of the worker calls go to now (a handle from an older one is lost). */
  get liveGeneration(): number {
    return this.current?.generation ?? this.generation + 1;
  }

  /**
   * Send one call; the answer, or a GuestTrap / FerryError / Error as the worker's FileResources
   * threw it. A worker that dies first answers host_error.
   */
  call(request: Request, transfer: ArrayBuffer[] = []): Promise<Answered> {
    if (this.closed) return Promise.reject(new GuestTrap("host_error", "the resource thread is closed"));
    if (this.pending.size >= MAX_PENDING_CALLS)
      return Promise.reject(new GuestTrap("host_error", `more than ${MAX_PENDING_CALLS} resource calls waiting`));
    let current: Current;
    try {
      current = this.worker();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const id = this.nextId++;
    return new Promise<Answered>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      current.calls.add(id);
      clearTimeout(current.idleTimer);
      current.worker.ref(); // a call in flight keeps the host alive until it is answered
      current.worker.postMessage({ ...request, id }, transfer);
    });
  }

  /** The current worker's handle table: opened and ended handles are recorded here. */
  opened(generation: number, handle: number, spec: RootSpec): void {
    if (this.current?.generation === generation) this.current.handles.set(handle, spec);
  }

  ended(generation: number, handle: number): void {
    if (this.current?.generation !== generation) return;
    this.current.handles.delete(handle);
    this.maybeIdle();
  }

  /** A directory file opened (`true`) or closed in the worker of `generation`: open ones keep it from idling out. */
  fileOpen(generation: number, handle: number, open: boolean): void {
    if (this.current?.generation !== generation) return;
    if (open) this.current.files.add(handle);
    else {
      this.current.files.delete(handle);
      this.maybeIdle();
    }
  }

  /**
   * Tests only: make the worker block (as on a slow disk) until the returned function is called.
   * Calls sent meanwhile wait behind it.
   */
  hold(): { held: Promise<Answered>; release: () => void } {
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const held = this.call({ op: "hold", gate });
    return {
      held,
      release: () => {
        Atomics.store(gate, 0, 1);
        Atomics.notify(gate, 0);
      },
    };
  }

  /** Tests only: end the worker as a crash would (calls in flight trap host_error). */
  async kill(): Promise<void> {
    const c = this.current;
    if (!c) return;
    c.stopping = "kill";
    await c.worker.terminate();
  }

  /** Stop the worker; calls in flight trap host_error. Later calls trap at once. */
  async close(): Promise<void> {
    this.closed = true;
    const c = this.current;
    if (!c) return;
    c.stopping = "close";
    await c.worker.terminate();
  }

  private worker(): Current {
    if (this.current) return this.current;
    const worker = new Worker(workerScript(), {
      // Nothing of the host's: no flags (a host's V8 or --input-type flags are refused for a worker
      // file entry and would kill it at start), no environment.
      execArgv: [],
      env: {},
      resourceLimits: { maxOldGenerationSizeMb: RESOURCE_WORKER_HEAP_MB },
    });
    worker.unref();
    this.counters.workersStarted++;
    const c: Current = {
      worker,
      generation: ++this.generation,
      handles: new Map(),
      files: new Set(),
      calls: new Set(),
      idleTimer: undefined,
      stopping: undefined,
      error: undefined,
    };
    this.current = c;
    worker.on("message", (answer: ResourceAnswer) => this.onAnswer(c, answer));
    worker.on("error", (error: Error) => {
      c.error = error.message;
    });
    worker.on("exit", (code) => this.onExit(c, code));
    // Temp files a dead worker left behind go before this one serves anything (they are no live
    // handle's here, so a walk of the root removes them).
    const sweeps = [...this.debris.values()];
    this.debris.clear();
    for (const spec of sweeps) this.call({ op: "usage", spec }).catch(() => undefined);
    return c;
  }

  private onAnswer(c: Current, answer: ResourceAnswer): void {
    const p = this.pending.get(answer.id);
    if (!p) return;
    this.pending.delete(answer.id);
    c.calls.delete(answer.id);
    this.counters.served++;
    this.servedOn.add(answer.threadId);
    if (answer.ok) p.resolve(answer);
    else if (answer.trap) p.reject(new GuestTrap(answer.trap, answer.detail));
    else if (answer.code) p.reject(new FerryError(answer.code, answer.detail));
    else if (answer.errno) p.reject(new FsError(answer.errno, answer.message.replace(`${answer.errno}: `, "")));
    else p.reject(new Error(answer.message));
    if (this.current === c) this.maybeIdle();
  }

  private onExit(c: Current, code: number): void {
    clearTimeout(c.idleTimer);
    if (this.current === c) this.current = undefined;
    const lost = c.calls.size > 0 || c.handles.size > 0 || c.files.size > 0;
    if (lost && c.stopping !== "idle") this.counters.workersLost++;
    for (const spec of c.handles.values()) this.debris.set(spec.root, { ...spec, maxTotalBytes: Infinity, maxEntries: Infinity });
    const why =
      c.stopping === "close"
        ? "the resource thread was closed"
        : `the resource worker stopped (${c.error ?? `exit code ${code}`}) before answering; nothing of the call was committed`;
    // Only this worker's calls: a worker that idled out may end after the next one took calls.
    for (const id of c.calls) {
      const p = this.pending.get(id);
      this.pending.delete(id);
      p?.reject(new GuestTrap("host_error", why));
    }
    c.calls.clear();
  }

  /** Unref'd, and gone after `idleMs` with nothing in flight and nothing open. */
  private maybeIdle(): void {
    const c = this.current;
    if (!c || c.calls.size > 0) return;
    c.worker.unref();
    clearTimeout(c.idleTimer);
    if (c.handles.size > 0 || c.files.size > 0) return;
    c.idleTimer = setTimeout(() => {
      if (this.current !== c || c.calls.size > 0 || c.handles.size > 0 || c.files.size > 0) return;
      c.stopping = "idle";
      this.current = undefined;
      void c.worker.terminate();
    }, this.idleMs);
    c.idleTimer.unref();
  }
}

let shared: ResourceThread | undefined;

/** The process's resource thread: every off-thread provider uses it unless given its own. */
export function sharedResourceThread(): ResourceThread {
  shared ??= new ResourceThread();
  return shared;
}

/** The compiled worker script next to this module (from TypeScript sources, its checked dist/ twin). */
function workerScript(): URL {
  return pathToFileURL(
    join(
      compiledRoomDir(import.meta.url, "resources", "resource-worker.js", (detail) => new GuestTrap("host_error", detail)),
      "resource-worker.js",
    ),
  );
}
