// Engine: settings that change the compiled bytes (metering, asyncify, memory cap, module limits),
// the compile-once cache keyed by code hash, and the three ways to get an instance: instantiate a
// module, restore a snapshot (strong mobility), or restart from a weak descriptor. Where an instance
// runs is decided once (normalizePlacement) and handed to the sandbox it names (sandbox/sandbox.ts).

import { type CompilePool, sharedCompilePool } from "./code/compile-pool.js";
import { compileCached, openModuleCache, type ModuleCache } from "./code/module-cache.js";
import { PIPELINE_VERSION, sha256Hex } from "./code/segment.js";
import { checkHeader, type ModuleLimits } from "./code/validate.js";
import { FerryError } from "./errors.js";
import type { Instance, RunOptions, RunResult } from "./exec/instance-api.js";
import { GuestModule } from "./exec/guest-module.js";
import { decodeSnapshot } from "./exec/snapshot-codec.js";
import type { Snapshot } from "./exec/snapshot.js";
import type { WeakDescriptor } from "./exec/weak.js";
import { inProcessSandbox } from "./sandbox/in-process/in-process-sandbox.js";
import { IsolatedPool, type IsolatedPoolOptions } from "./sandbox/isolated/pool.js";
import { normalizePlacement, type Placement, type PlacementOptions } from "./sandbox/placement.js";
import type { Sandbox } from "./sandbox/sandbox.js";
import {
  DEFAULT_CONTINUATION_STACK_BYTES,
  DEFAULT_MAX_DATA_BYTES,
  DEFAULT_MAX_BR_TABLE_TARGETS,
  DEFAULT_MAX_EXPORTS,
  DEFAULT_MAX_FUNCTION_BODY_BYTES,
  DEFAULT_MAX_FUNCTION_CALLS,
  DEFAULT_MAX_FUNCTION_LOCALS,
  DEFAULT_MAX_FUNCTION_LOOPS,
  DEFAULT_MAX_FUNCTIONS,
  DEFAULT_MAX_GLOBALS,
  DEFAULT_MAX_IMPORTS,
  DEFAULT_MAX_MEMORY_PAGES,
  DEFAULT_MAX_MODULE_BYTES,
  DEFAULT_MAX_LOOP_IF_DEPTH,
  DEFAULT_MAX_NESTING_DEPTH,
  DEFAULT_MAX_TABLE_ELEMENTS,
} from "./limits.js";

export interface EngineOptions {
  /** Insert fuel metering. Without it the host cannot take control back. Default true. */
  metering?: boolean;
  /** Make guests pausable anywhere (strong mobility). Requires metering. Default true. */
  asyncify?: boolean;
  /** Memory cap in 64 KiB pages, written into every module as its maximum. */
  maxMemoryPages?: number;
  /** Limits on the modules this engine accepts. */
  limits?: Partial<Omit<ModuleLimits, "maxMemoryPages">>;
  /**
   * Bytes for saved stack frames of guests without their own continuation struct, in pages reserved
   * ahead of their memory (compiled into their code). Default 256 KiB.
   */
  continuationStackBytes?: number;
  /** Value `env.seed` returns, so AssemblyScript's Math.random is reproducible. */
  seed?: number;
  /** The isolated sandbox's process pool (started on first use). */
  isolated?: IsolatedPoolOptions;
  /**
   * Where modules are validated and instrumented: worker threads with time and memory limits.
   * Default: one pool shared by every engine in the process. Engines sharing a pool share its
   * queue, its concurrency bound and its memory of refused modules.
   */
  compilePool?: CompilePool;
  /**
   * A directory where instrumented modules are kept across processes (created if missing), so the
   * same bytes under the same pipeline and settings are instrumented once. Default: none (memory
   * only). Entries are verified on every read; see docs/sandboxes.md, "The module cache".
   */
  cacheDir?: string;
  /** Most bytes the cache directory may hold; least recently used entries go first. Default 256 MiB. */
  cacheMaxBytes?: number;
  /**
   * Compiled modules the engine keeps by code hash (least recently used go first; a module a caller
   * still holds keeps working, and compiling its bytes again finds the instrumented code in the
   * module cache). Default DEFAULT_MAX_COMPILED_MODULES.
   */
  maxCompiledModules?: number;
}

/** Compiled modules an engine keeps by code hash by default. */
export const DEFAULT_MAX_COMPILED_MODULES = 256;

export interface EngineConfig {
  metering: boolean;
  asyncify: boolean;
  limits: ModuleLimits;
  continuationStackBytes: number;
  seed: number;
}

/** Where and as whom an instance runs, and its I/O options: normalised once into a Placement (sandbox/placement.ts). */
export type InstantiateOptions = PlacementOptions;

export interface RestoreOptions extends InstantiateOptions {
  /** The module the snapshot must belong to; by default the engine's module with its code hash. */
  module?: GuestModule;
}

export class Engine {
  readonly config: Readonly<EngineConfig>;
  /** By code hash, least recently used first; at most maxCompiledModules. */
  private readonly compiling = new Map<string, Promise<GuestModule>>();
  private readonly modules = new Map<string, GuestModule>();
  /** Every module this engine compiled, kept by the map above or not (what instantiate accepts). */
  private readonly owned = new WeakSet<GuestModule>();
  private readonly maxCompiledModules: number;
  private pool: IsolatedPool | undefined;
  private readonly poolOptions: IsolatedPoolOptions;
  /** Validates and instruments this engine's modules (see EngineOptions.compilePool). */
  readonly compilePool: CompilePool;
  /** The on-disk module cache (EngineOptions.cacheDir), shared by the process's engines on one directory. */
  readonly moduleCache: ModuleCache | undefined;

  constructor(options: EngineOptions = {}) {
    this.config = normalise(options);
    this.poolOptions = options.isolated ?? {};
    this.compilePool = options.compilePool ?? sharedCompilePool();
    this.moduleCache = options.cacheDir === undefined ? undefined : openModuleCache(options.cacheDir, { maxBytes: options.cacheMaxBytes });
    this.maxCompiledModules = options.maxCompiledModules ?? DEFAULT_MAX_COMPILED_MODULES;
    if (!Number.isSafeInteger(this.maxCompiledModules) || this.maxCompiledModules < 1)
      throw new FerryError("invalid_option", `maxCompiledModules must be a positive integer, got ${String(options.maxCompiledModules)}`);
  }

  /** Stop the isolated sandbox's processes (instances still living in them end `trapped`). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The isolated sandbox's pool, if it has been started. */
  get isolatedPool(): IsolatedPool | undefined {
    return this.pool;
  }

  /**
   * Validate and instrument `bytes` once; later calls with the same bytes return the cached module
   * (and with `cacheDir`, later processes find it on disk).
   */
  async compile(bytes: Uint8Array): Promise<GuestModule> {
    if (!(bytes instanceof Uint8Array)) throw new FerryError("not_wasm", "module bytes must be a Uint8Array");
    checkHeader(bytes, this.config.limits); // free, so obvious non-modules wait for no worker
    const hash = sha256Hex(bytes);
    const cached = this.recent(hash);
    if (cached !== undefined) return cached;
    // Off the event loop: validation and instrumentation in a worker (bounded in time and memory),
    // then V8's compile on its background threads.
    const options = {
      metering: this.config.metering,
      asyncify: this.config.asyncify,
      limits: this.config.limits,
      continuationStackBytes: this.config.continuationStackBytes,
    };
    const pending = compileCached(this.moduleCache, this.compilePool, bytes, hash, options).then(async (segment) => {
      const wasm = await WebAssembly.compile(segment.bytes as BufferSource).catch((e: unknown) => {
        throw new FerryError("instrumentation_failed", `V8 rejects the instrumented module: ${e instanceof Error ? e.message : String(e)}`);
      });
      const module = new GuestModule(segment, wasm);
      this.owned.add(module);
      if (this.compiling.get(hash) === pending) this.modules.set(hash, module);
      return module;
    });
    this.compiling.set(hash, pending);
    pending.catch(() => this.compiling.get(hash) === pending && this.compiling.delete(hash));
    // Least recently used out (a module a caller holds keeps working; see `owned`).
    for (const oldest of this.compiling.keys()) {
      if (this.compiling.size <= this.maxCompiledModules) break;
      this.compiling.delete(oldest);
      this.modules.delete(oldest);
    }
    return pending;
  }

  /** The compile of `hash` under way or done, marked as just used. */
  private recent(hash: string): Promise<GuestModule> | undefined {
    const p = this.compiling.get(hash);
    if (p) {
      this.compiling.delete(hash);
      this.compiling.set(hash, p);
    }
    return p;
  }

  /** A module this engine has compiled, by the sha256 of its original bytes. */
  module(codeHash: string): GuestModule | undefined {
    const module = this.modules.get(codeHash);
    if (module) void this.recent(codeHash);
    return module;
  }

  /**
   * A fresh instance of `module` in the sandbox `options.sandbox` picks (by default the one the
   * trust class calls for). Both sandboxes give the same `Instance` behaviour and results.
   */
  async instantiate(module: GuestModule, options: InstantiateOptions = {}): Promise<Instance> {
    return this.create(module, options);
  }

  private async create(module: GuestModule, options: InstantiateOptions, snapshot?: Snapshot): Promise<Instance> {
    if (!this.owned.has(module)) {
      throw new FerryError("unknown_module", `${module.codeHash} was compiled by another engine`);
    }
    const placement = normalizePlacement(options);
    if (placement.sandbox === "in-process") return this.place(inProcessSandbox, module, placement, snapshot);
    this.pool ??= new IsolatedPool(this.poolOptions);
    return this.place(this.pool, module, placement, snapshot);
  }

  private place<P extends Placement>(
    sandbox: Sandbox<P>,
    module: GuestModule,
    placement: P,
    snapshot: Snapshot | undefined,
  ): Promise<Instance> {
    return snapshot ? sandbox.restore(module, this.config, placement, snapshot) : sandbox.instantiate(module, this.config, placement);
  }

  /**
   * Strong mobility: a fresh instance paused exactly where the snapshot's source was. The module
   * must be compiled in this engine already, or travel inside the snapshot (`code`).
   */
  async restore(snapshot: Uint8Array | Snapshot, options: RestoreOptions = {}): Promise<Instance> {
    const s = snapshot instanceof Uint8Array ? decodeSnapshot(snapshot, { maxMemoryPages: this.config.limits.maxMemoryPages }) : snapshot;
    let module = options.module ?? this.modules.get(s.codeHash);
    if (!module && s.code) {
      if (sha256Hex(s.code) !== s.codeHash) {
        throw new FerryError("snapshot_code_mismatch", "the embedded module's sha256 is not the snapshot's code hash");
      }
      module = await this.compile(s.code);
    }
    if (!module) throw new FerryError("unknown_module", `${s.codeHash}: compile the module before restoring its snapshots`);
    if (module.codeHash !== s.codeHash) {
      throw new FerryError("snapshot_code_mismatch", `snapshot is of ${s.codeHash}, the module is ${module.codeHash}`);
    }
    if (s.pipelineVersion !== PIPELINE_VERSION) {
      throw new FerryError("snapshot_pipeline_mismatch", `snapshot pipeline ${s.pipelineVersion}, this runtime runs ${PIPELINE_VERSION}`);
    }
    const { module: _ignored, ...instanceOptions } = options;
    return this.create(module, { ...instanceOptions, input: s.input }, s);
  }

  /** Weak mobility: restart the described run from the beginning and run its first slice. */
  async startWeak(
    d: WeakDescriptor,
    run: RunOptions = {},
    options: Omit<InstantiateOptions, "input"> = {},
  ): Promise<{ instance: Instance; result: RunResult }> {
    const module = this.modules.get(d.codeHash);
    if (!module) throw new FerryError("unknown_module", `${d.codeHash}: compile the module first`);
    const instance = await this.instantiate(module, { ...options, input: d.input });
    return { instance, result: await instance.run(d.entry, d.args, run) };
  }

  /** Describe an instance's current run for weak migration. */
  describeWeak(instance: Instance): WeakDescriptor {
    const run = instance.currentRun();
    if (!run) throw new FerryError("instance_not_paused", "the instance has not started a run");
    return { codeHash: instance.codeHash, entry: run.entry.name, args: run.args, input: instance.inputBytes };
  }
}

function normalise(o: EngineOptions): EngineConfig {
  const metering = o.metering ?? true;
  const asyncify = o.asyncify ?? metering;
  if (asyncify && !metering) {
    throw new FerryError("invalid_option", "`asyncify: true` requires `metering: true`: without fuel checks nothing ever yields");
  }
  const positive = (name: string, value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || value < 1 || value > max) {
      throw new FerryError("invalid_option", `\`${name}\` must be an integer from 1 to ${max}, got ${String(value)}`);
    }
    return value;
  };
  const l = o.limits ?? {};
  return {
    metering,
    asyncify,
    limits: {
      maxModuleBytes: positive("limits.maxModuleBytes", l.maxModuleBytes, DEFAULT_MAX_MODULE_BYTES),
      maxFunctions: positive("limits.maxFunctions", l.maxFunctions, DEFAULT_MAX_FUNCTIONS),
      maxImports: positive("limits.maxImports", l.maxImports, DEFAULT_MAX_IMPORTS),
      maxExports: positive("limits.maxExports", l.maxExports, DEFAULT_MAX_EXPORTS),
      maxGlobals: positive("limits.maxGlobals", l.maxGlobals, DEFAULT_MAX_GLOBALS),
      maxTableElements: positive("limits.maxTableElements", l.maxTableElements, DEFAULT_MAX_TABLE_ELEMENTS),
      maxDataBytes: positive("limits.maxDataBytes", l.maxDataBytes, DEFAULT_MAX_DATA_BYTES),
      maxMemoryPages: positive("maxMemoryPages", o.maxMemoryPages, DEFAULT_MAX_MEMORY_PAGES, 65_536),
      maxFunctionBodyBytes: positive("limits.maxFunctionBodyBytes", l.maxFunctionBodyBytes, DEFAULT_MAX_FUNCTION_BODY_BYTES),
      maxFunctionLocals: positive("limits.maxFunctionLocals", l.maxFunctionLocals, DEFAULT_MAX_FUNCTION_LOCALS),
      maxFunctionLoops: positive("limits.maxFunctionLoops", l.maxFunctionLoops, DEFAULT_MAX_FUNCTION_LOOPS),
      maxFunctionCalls: positive("limits.maxFunctionCalls", l.maxFunctionCalls, DEFAULT_MAX_FUNCTION_CALLS),
      maxNestingDepth: positive("limits.maxNestingDepth", l.maxNestingDepth, DEFAULT_MAX_NESTING_DEPTH),
      maxLoopIfDepth: positive("limits.maxLoopIfDepth", l.maxLoopIfDepth, DEFAULT_MAX_LOOP_IF_DEPTH),
      maxBrTableTargets: positive("limits.maxBrTableTargets", l.maxBrTableTargets, DEFAULT_MAX_BR_TABLE_TARGETS),
    },
    continuationStackBytes: positive(
      "continuationStackBytes",
      o.continuationStackBytes,
      DEFAULT_CONTINUATION_STACK_BYTES,
      64 * 1024 * 1024,
    ),
    seed: o.seed ?? 0x5eed,
  };
}
