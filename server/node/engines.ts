// The node's engines, one per memory cap (a client's quota, capped by the node's), sharing one
// compile pool and one module cache; and the one lookup every part of the node makes: a job's owner
// → its client → its quotas → its engine. An owner id with no client (removed since) and a null
// owner both get the anonymous quotas.

import { join } from "node:path";
import {
  CompilePool,
  Engine,
  openModuleCache,
  type CompilePoolOptions,
  type GuestModule,
  type IsolatedPoolOptions,
  type ModuleCache,
} from "../../runtime/index.js";
import type { Quotas } from "../formats/grants.js";
import type { Store } from "../store/store.js";
import type { ClientRecord, JobRecord } from "../store/records.js";
import type { NodeLimits } from "./node-limits.js";
import { anonymousQuotas, quotasOf } from "./quotas.js";

export interface NodeEnginesOptions {
  /** Memory cap of every guest on this node, pages; clients' quotas may lower it. */
  maxMemoryPages: number;
  isolated: IsolatedPoolOptions | undefined;
  compile: CompilePoolOptions | undefined;
  limits: NodeLimits;
}

export class NodeEngines {
  private readonly engines = new Map<number, Engine>();
  /** One compile pool for all the node's engines: one queue, one bound on workers, one memory of refused modules. */
  readonly compilePool: CompilePool;
  /** Instrumented modules in <data-dir>/module-cache, for all the node's engines: a restart re-instruments nothing. */
  readonly moduleCache: ModuleCache;
  /** What every anonymous job gets here (quotas.ts, with this node's anonymous fuel limit). */
  readonly anonymousQuotas: Readonly<Quotas>;

  constructor(
    readonly store: Store,
    private readonly options: NodeEnginesOptions,
  ) {
    this.compilePool = new CompilePool(options.compile);
    this.moduleCache = openModuleCache(join(store.dataDir, "module-cache"));
    this.anonymousQuotas = anonymousQuotas(options.limits);
  }

  /** The client a job of `owner` runs as (null: anonymous, or a client no longer registered). */
  clientOf(owner: string | null): ClientRecord | null {
    return owner ? (this.store.clients.get(owner) ?? null) : null;
  }

  /** The quotas of a caller (a client, or null for anonymous). */
  quotasFor(client: ClientRecord | null): Readonly<Quotas> {
    return client ? quotasOf(client) : this.anonymousQuotas;
  }

  /** The quotas a job of `owner` (null: anonymous) runs under here. */
  quotasOf(owner: string | null): Readonly<Quotas> {
    return this.quotasFor(this.clientOf(owner));
  }

  /**
   * Module `codeHash` compiled by `engine`: the one it holds (compiled from bytes whose sha256 it
   * checked: nothing is read or hashed again per job), or the store's bytes (read and verified), compiled.
   */
  async compiled(engine: Engine, codeHash: string): Promise<GuestModule> {
    return engine.module(codeHash) ?? engine.compile(this.store.modules.read(codeHash));
  }

  /** The engine for a job of `owner`. */
  engineOf(owner: string | null): Engine {
    return this.engine(this.quotasOf(owner).maxMemoryPages);
  }

  /** The memory cap a job of `owner` (null: anonymous) gets on this node. */
  memoryPagesOf(owner: string | null): number {
    return Math.min(this.quotasOf(owner).maxMemoryPages, this.options.maxMemoryPages);
  }

  /** The most fuel one job of `owner` (null: anonymous) may use on this node. */
  fuelCapOf(owner: string | null): number {
    return this.quotasOf(owner).maxFuelPerJob;
  }

  /** A restored job's fuel budget: its record's, capped by its owner's quota here — never its snapshot's. */
  budgetOf(record: JobRecord): { fuelLimit: number; fuelUsed: number } {
    const cap = this.fuelCapOf(record.owner);
    return { fuelLimit: Math.min(record.fuelLimit ?? cap, cap), fuelUsed: record.fuelUsed };
  }

  /** The engine whose memory cap is `maxMemoryPages` (at most the node's). */
  engine(maxMemoryPages: number): Engine {
    const pages = Math.min(maxMemoryPages, this.options.maxMemoryPages);
    let engine = this.engines.get(pages);
    if (!engine) {
      const cacheDir = this.moduleCache.dir; // the same directory, so the same (shared) cache object
      const isolated = this.options.isolated;
      engine = new Engine({ maxMemoryPages: pages, compilePool: this.compilePool, cacheDir, ...(isolated ? { isolated } : {}) });
      this.engines.set(pages, engine);
    }
    return engine;
  }

  async close(): Promise<void> {
    await Promise.all([...this.engines.values()].map((e) => e.close()));
    await this.compilePool.close();
  }
}
