// Validation and instrumentation off the host's event loop: a bounded set of worker threads
// (compile-worker.ts), a queue in front of them, a wall-clock and a memory limit per compile, and a
// memory of refusals so the same bytes are never compiled twice to be refused twice. Engines share
// one pool (by default, one per process), so N engines or N uploads never start N workers.

import { compiledRoomDir } from "../dist-twin.js";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { FerryError, type ErrorCode } from "../errors.js";
import {
  DEFAULT_COMPILE_IDLE_MS,
  DEFAULT_COMPILE_MAX_BINARYEN_HEAP_MB,
  DEFAULT_COMPILE_MAX_HEAP_MB,
  DEFAULT_COMPILE_MAX_QUEUED,
  DEFAULT_COMPILE_REMEMBERED_REFUSALS,
  DEFAULT_COMPILE_MAX_TIMEOUT_MS,
  DEFAULT_COMPILE_TIMEOUT_MS,
  DEFAULT_COMPILE_TIMEOUT_MS_PER_KIB,
  DEFAULT_MAX_CONCURRENT_COMPILES,
} from "../limits.js";
import type { CompileRequest, CompileWorkerData, CompileWorkerMessage } from "./compile-worker.js";
import { PIPELINE_VERSION, stackBytesOf, type CodeSegment, type InstrumentOptions } from "./segment.js";

export interface CompilePoolOptions {
  /** Compiles running at once, each in its own worker thread; more wait in the queue. Default 1. */
  maxConcurrent?: number;
  /** Compiles waiting for a worker; past this `compile` refuses with `compiler_busy`. Default 64. */
  maxQueued?: number;
  /**
   * Wall-clock limit of one compile in ms, from the moment a ready worker takes it: `timeoutMs` plus
   * `timeoutMsPerKiB` per KiB of the module, at most `maxTimeoutMs`.
   */
  timeoutMs?: number;
  timeoutMsPerKiB?: number;
  maxTimeoutMs?: number;
  /** V8 heap limit of a compile worker (its JS objects), MiB. */
  maxHeapMb?: number;
  /** Binaryen's heap limit (a Wasm memory the V8 limit does not count), MiB. */
  maxBinaryenHeapMb?: number;
  /** An idle worker exits after this long, ms (Binaryen's heap never shrinks, so it is not kept). */
  idleMs?: number;
  /** Refusals remembered by code hash; the oldest are forgotten first. */
  maxRemembered?: number;
}

export interface CompilePoolStats {
  /** Modules instrumented. */
  compiled: number;
  /** Modules refused by a worker (validation, caps, limits). */
  refused: number;
  /** Compiles refused at once because the same bytes were refused before (no worker involved). */
  refusedFromMemory: number;
  /** Compiles stopped at the wall-clock limit. */
  timedOut: number;
  /** Compiles stopped at a memory limit (V8 heap or Binaryen heap). */
  outOfMemory: number;
  /** Worker threads started (each loads Binaryen once and serves compiles until it idles out). */
  workersStarted: number;
  /** Worker threads that are alive now (busy, idle or being terminated). */
  workersAlive: number;
  /** Compiles waiting for a worker now. */
  queued: number;
  /** Compiles a worker is running now. */
  running: number;
}

/** Refusal codes that depend only on the bytes and the pipeline: worth remembering. */
const REMEMBERED_CODES: readonly ErrorCode[] = [
  "not_wasm",
  "invalid_wasm",
  "unsupported_feature",
  "import_not_allowed",
  "module_limit",
  "instrumentation_failed",
];

interface Job {
  bytes: Uint8Array;
  key: string;
  options: InstrumentOptions;
  resolve(segment: CodeSegment): void;
  reject(error: FerryError): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job: Job | undefined;
  timer: NodeJS.Timeout | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  /** Why the pool terminated it, if it did. */
  stopping: "timeout" | "idle" | "spent" | "close" | undefined;
  outOfMemory: boolean;
}

export class CompilePool {
  private readonly o: Required<CompilePoolOptions>;
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  /** Refusals by key (insertion order = age). */
  private readonly refusals = new Map<string, { code: ErrorCode; detail: string }>();
  private readonly counters = { compiled: 0, refused: 0, refusedFromMemory: 0, timedOut: 0, outOfMemory: 0, workersStarted: 0 };
  private closed = false;

  constructor(options: CompilePoolOptions = {}) {
    const int = (name: keyof CompilePoolOptions, fallback: number, min = 1): number => {
      const v = options[name];
      if (v === undefined) return fallback;
      if (!Number.isSafeInteger(v) || v < min)
        throw new FerryError("invalid_option", `\`${name}\` must be an integer of at least ${min}, got ${String(v)}`);
      return v;
    };
    this.o = {
      maxConcurrent: int("maxConcurrent", DEFAULT_MAX_CONCURRENT_COMPILES),
      maxQueued: int("maxQueued", DEFAULT_COMPILE_MAX_QUEUED),
      timeoutMs: int("timeoutMs", DEFAULT_COMPILE_TIMEOUT_MS),
      timeoutMsPerKiB: int("timeoutMsPerKiB", DEFAULT_COMPILE_TIMEOUT_MS_PER_KIB, 0),
      maxTimeoutMs: int("maxTimeoutMs", DEFAULT_COMPILE_MAX_TIMEOUT_MS),
      maxHeapMb: int("maxHeapMb", DEFAULT_COMPILE_MAX_HEAP_MB, 16),
      maxBinaryenHeapMb: int("maxBinaryenHeapMb", DEFAULT_COMPILE_MAX_BINARYEN_HEAP_MB, 16),
      idleMs: int("idleMs", DEFAULT_COMPILE_IDLE_MS, 0),
      maxRemembered: int("maxRemembered", DEFAULT_COMPILE_REMEMBERED_REFUSALS, 0),
    };
  }

  get options(): Readonly<Required<CompilePoolOptions>> {
    return this.o;
  }

  get stats(): CompilePoolStats {
    let running = 0;
    for (const s of this.slots) if (s.job) running++;
    return { ...this.counters, workersAlive: this.slots.size, queued: this.queue.length, running };
  }

  /**
   * Validate and instrument `bytes` (whose sha256 is `codeHash`) in a worker. Refuses at once,
   * without a worker, bytes refused before under the same pipeline and options.
   */
  compile(bytes: Uint8Array, codeHash: string, options: InstrumentOptions): Promise<CodeSegment> {
    if (this.closed) return Promise.reject(new FerryError("compiler_busy", "the compile pool is closed"));
    const key = refusalKey(codeHash, options);
    const remembered = this.refusals.get(key);
    if (remembered) {
      this.counters.refusedFromMemory++;
      return Promise.reject(
        new FerryError(remembered.code, `${remembered.detail} (refused before; the same bytes are not compiled again)`),
      );
    }
    if (this.queue.length >= this.o.maxQueued) {
      return Promise.reject(
        new FerryError("compiler_busy", `${this.queue.length} modules are waiting to be compiled, the limit is ${this.o.maxQueued}`),
      );
    }
    return new Promise<CodeSegment>((resolve, reject) => {
      this.queue.push({ bytes, key, options, resolve, reject });
      this.pump();
    });
  }

  /** Whether these bytes (under these options) are remembered as refused. */
  remembersRefusal(codeHash: string, options: InstrumentOptions): boolean {
    return this.refusals.has(refusalKey(codeHash, options));
  }

  /** Stop every worker; queued and running compiles are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new FerryError("compiler_busy", "the compile pool was closed"));
    await Promise.all([...this.slots].map((slot) => this.stop(slot, "close")));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot: Slot | undefined;
      for (const s of this.slots) if (s.ready && !s.job && !s.stopping) slot = s;
      if (!slot) {
        // A starting worker will take the next job when it is ready.
        const starting = [...this.slots].some((s) => !s.ready && !s.stopping);
        if (starting || this.slots.size >= this.o.maxConcurrent) return;
        try {
          this.spawn();
        } catch (e) {
          // The worker cannot be started at all (its script is missing, say): every job would fail alike.
          const error =
            e instanceof FerryError
              ? e
              : new FerryError("instrumentation_failed", `cannot start a compile worker: ${e instanceof Error ? e.message : String(e)}`);
          for (const job of this.queue.splice(0)) job.reject(error);
        }
        return;
      }
      this.run(slot, this.queue.shift()!);
    }
  }

  private spawn(): void {
    const data: CompileWorkerData = { maxBinaryenHeapBytes: this.o.maxBinaryenHeapMb * 1024 * 1024, stackSizeMb: COMPILE_STACK_MB };
    const worker = new Worker(workerScript(), {
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: this.o.maxHeapMb, stackSizeMb: COMPILE_STACK_MB },
      env: {},
      // None of the host's flags: a worker inherits them by default, and many are refused for a
      // worker (V8 flags such as --trace-gc, process-wide ones) or for its file entry point
      // (--input-type, from `node -e`), which would kill every worker at start.
      execArgv: [],
      // Not piped: a piped stdio stream keeps the host alive even while the worker is unref'd.
      // The worker silences its own output (Binaryen's chatter) instead.
    });
    this.counters.workersStarted++;
    const slot: Slot = {
      worker,
      ready: false,
      job: undefined,
      timer: undefined,
      idleTimer: undefined,
      stopping: undefined,
      outOfMemory: false,
    };
    this.slots.add(slot);
    worker.on("message", (m: CompileWorkerMessage) => this.onMessage(slot, m));
    worker.on("error", (error: Error & { code?: string }) => {
      if (error.code === "ERR_WORKER_OUT_OF_MEMORY") slot.outOfMemory = true;
    });
    worker.on("exit", (code) => this.onExit(slot, code));
  }

  private run(slot: Slot, job: Job): void {
    clearTimeout(slot.idleTimer);
    slot.job = job;
    slot.worker.ref();
    const limitMs = this.timeLimitMs(job.bytes.byteLength);
    slot.timer = setTimeout(() => {
      this.counters.timedOut++;
      this.settle(
        slot,
        new FerryError(
          "module_limit",
          `instrumenting took longer than the compile time limit of ${limitMs} ms for a module of ${job.bytes.byteLength} bytes`,
        ),
      );
      void this.stop(slot, "timeout");
    }, limitMs);
    const request: CompileRequest = { id: 0, bytes: job.bytes, options: job.options };
    slot.worker.postMessage(request);
  }

  /** The wall-clock limit of compiling a module of `bytes` bytes, ms. */
  timeLimitMs(bytes: number): number {
    return Math.min(this.o.maxTimeoutMs, this.o.timeoutMs + Math.ceil((bytes / 1024) * this.o.timeoutMsPerKiB));
  }

  private onMessage(slot: Slot, m: CompileWorkerMessage): void {
    if (m.type === "ready") {
      slot.ready = true;
      this.idle(slot);
      this.pump();
      return;
    }
    if (!slot.job) return; // answered after its time ran out
    if (m.type === "done") {
      this.counters.compiled++;
      this.settle(slot, m.segment);
    } else {
      if (m.code === "module_limit" && m.spent) this.counters.outOfMemory++;
      this.settle(slot, new FerryError(m.code, m.detail));
    }
    // Binaryen's heap never shrinks: a worker that grew it far, or whose Binaryen failed, goes.
    if ((m.type === "refused" && m.spent) || m.heapBytes > RECYCLE_HEAP_BYTES) void this.stop(slot, "spent");
    else this.idle(slot);
    this.pump();
  }

  private onExit(slot: Slot, code: number): void {
    clearTimeout(slot.idleTimer);
    this.slots.delete(slot);
    if (slot.job) {
      if (slot.outOfMemory) {
        this.counters.outOfMemory++;
        this.settle(
          slot,
          new FerryError("module_limit", `instrumenting needs more than the compile memory limit (V8 heap ${this.o.maxHeapMb} MiB)`),
        );
      } else if (slot.ready) {
        this.settle(slot, new FerryError("instrumentation_failed", `the compile worker exited (code ${code})`));
      } else {
        this.settle(slot, new FerryError("instrumentation_failed", `the compile worker could not start (exit code ${code})`));
      }
    } else if (!slot.ready && !slot.stopping && this.queue.length > 0) {
      // Could not even start (no job was given to it yet): refuse the first waiting job, not all.
      const job = this.queue.shift()!;
      job.reject(new FerryError("instrumentation_failed", `the compile worker could not start (exit code ${code})`));
    }
    if (!this.closed) this.pump();
  }

  /** Answer the slot's job (once) and forget it. */
  private settle(slot: Slot, outcome: CodeSegment | FerryError): void {
    const job = slot.job;
    if (!job) return;
    slot.job = undefined;
    clearTimeout(slot.timer);
    slot.timer = undefined;
    if (outcome instanceof FerryError) {
      this.counters.refused++;
      if (REMEMBERED_CODES.includes(outcome.code) && this.o.maxRemembered > 0) {
        this.refusals.set(job.key, { code: outcome.code, detail: outcome.detail ?? "" });
        if (this.refusals.size > this.o.maxRemembered) this.refusals.delete(this.refusals.keys().next().value!);
      }
      job.reject(outcome);
    } else {
      job.resolve(outcome);
    }
  }

  private idle(slot: Slot): void {
    slot.worker.unref(); // an idle worker never keeps the host alive
    clearTimeout(slot.idleTimer);
    slot.idleTimer = setTimeout(() => void this.stop(slot, "idle"), this.o.idleMs);
    slot.idleTimer.unref();
  }

  private async stop(slot: Slot, why: NonNullable<Slot["stopping"]>): Promise<void> {
    slot.stopping ??= why;
    clearTimeout(slot.idleTimer);
    if (slot.job && why === "close") this.settle(slot, new FerryError("compiler_busy", "the compile pool was closed"));
    await slot.worker.terminate();
  }
}

/** A compile worker's stack (Node's default for workers, made explicit: it bounds expression depth). */
const COMPILE_STACK_MB = 4;

/** A worker whose Binaryen heap grew past this is replaced after its compile. */
const RECYCLE_HEAP_BYTES = 256 * 1024 * 1024;

/** What a refusal depends on: the bytes, the pipeline and every option but the memory cap. */
function refusalKey(codeHash: string, options: InstrumentOptions): string {
  const { maxMemoryPages: _cap, ...limits } = options.limits;
  return `${codeHash}:${PIPELINE_VERSION}:${options.metering ? "m" : "-"}${options.asyncify ? "a" : "-"}${options.eagerLoopFuel ? "e" : "-"}:${stackBytesOf(options)}:${JSON.stringify(limits)}`;
}

let shared: CompilePool | undefined;

/** The process's default pool (engines not given one share it). Its idle workers never keep the process alive. */
export function sharedCompilePool(): CompilePool {
  shared ??= new CompilePool();
  return shared;
}

/** The compiled worker script next to this module (from TypeScript sources, its checked dist/ twin). */
function workerScript(): URL {
  return pathToFileURL(join(compiledCodeDir(), "compile-worker.js"));
}

/** The directory of the compiled runtime/code/*.js the compile workers run (runtime/dist-twin.ts). */
export function compiledCodeDir(): string {
  const fail = (detail: string) => new FerryError("instrumentation_failed", detail);
  return compiledRoomDir(
    import.meta.url,
    "code",
    "compile-worker.js",
    fail,
    import.meta.url.endsWith(".ts") ? workerSourcesOutsideCode() : [],
  );
}

/**
 * The sources outside code/ the compile worker loads, relative to runtime/: the leaves it imports
 * and every host interface (the allow-list is derived from runtime/host/, whatever folders it holds).
 */
function workerSourcesOutsideCode(): string[] {
  const hostDir = join(dirname(fileURLToPath(import.meta.url)), "..", "host");
  const host = readdirSync(hostDir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
  return ["errors.ts", "limits.ts", "traps.ts", "resources/capabilities.ts", "resources/provider.ts", ...host.map((f) => join("host", f))];
}
