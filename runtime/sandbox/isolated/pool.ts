// The isolated sandbox: a pool of sandbox children (forked processes, or worker threads for the
// bench), each dedicated to one live instance, so a crash, OOM or kill ends only that instance.
// `size` children wait started and idle (up to twice that after a burst); more start on demand up to
// `maxChildren`; dead ones are replaced in the background. Idle children never keep the host alive.

import type { CodeSegment } from "../../code/segment.js";
import { FerryError } from "../../errors.js";
import type { GuestModule } from "../../exec/guest-module.js";
import type { Instance, InstanceConfig } from "../../exec/instance-api.js";
import type { Snapshot } from "../../exec/snapshot.js";
import { CapabilitySet } from "../../resources/capabilities.js";
import { isAsyncDirectory } from "../../resources/directory.js";
import type { ResourceProvider } from "../../resources/provider.js";
import type { IsolatedPlacement } from "../placement.js";
import type { Sandbox } from "../sandbox.js";
import { HostCallServer } from "./host-call-server.js";
import { IsolatedInstance } from "./isolated-instance.js";
import type { CreateOptions, Reply } from "./protocol.js";
import { SandboxChild, SandboxExit } from "./sandbox-child.js";
import { requireChildScript, type TransportKind } from "./transport.js";

/** Idle children kept started. */
export const DEFAULT_POOL_SIZE = 2;
/** Most children alive at once. */
export const DEFAULT_MAX_CHILDREN = 32;
/** V8 old-space limit per child, MiB (Wasm memory is outside it, capped by the engine). */
export const DEFAULT_CHILD_MAX_HEAP_MB = 128;

export interface IsolatedPoolOptions {
  /** Children kept started and idle, ready for instances. Default 2. */
  size?: number;
  /** Most children alive at once (busy + idle). Default 32. */
  maxChildren?: number;
  /** V8 heap limit per child in MiB (--max-old-space-size). Default 128. */
  maxHeapMb?: number;
  /** "process" (default; child_process.fork) or "worker" (worker_threads; the bench's middle point). */
  transport?: "process" | "worker";
}

interface PoolConfig {
  size: number;
  maxChildren: number;
  maxHeapMb: number;
  transport: TransportKind;
}

export class IsolatedPool implements Sandbox<IsolatedPlacement> {
  private readonly config: PoolConfig;
  private script: URL | undefined;
  /** Started (or starting) children with no instance, oldest first. */
  private readonly idle: SandboxChild[] = [];
  private readonly busy = new Set<SandboxChild>();
  /** Children the pool ended itself (surplus idle ones, close()): their exit is not a replacement. */
  private readonly retired = new WeakSet<SandboxChild>();
  private started = 0;
  private replaced = 0;
  private closed = false;
  /** A background start failed: don't loop on it; the next checkout reports the failure. */
  private refillBroken = false;

  constructor(options: IsolatedPoolOptions = {}) {
    this.config = normalise(options);
  }

  async instantiate(module: GuestModule, config: InstanceConfig, placement: IsolatedPlacement): Promise<Instance> {
    return this.create(module.segment, config, placement, undefined);
  }

  /** A fresh child instance with `snapshot` applied (paused where the source was). */
  async restore(module: GuestModule, config: InstanceConfig, placement: IsolatedPlacement, snapshot: Snapshot): Promise<Instance> {
    if (snapshot.codeHash !== module.codeHash) {
      throw new FerryError("snapshot_code_mismatch", `snapshot is of ${snapshot.codeHash}, the module is ${module.codeHash}`);
    }
    return this.create(module.segment, config, { ...placement, input: snapshot.input }, snapshot);
  }

  /** Start children until `size` are idle, and wait for them (optional: the pool fills itself lazily). */
  async warm(): Promise<void> {
    this.assertOpen();
    this.refill();
    await Promise.all(this.idle.map((c) => c.awaitReady()));
  }

  /** Kill every child; instances with a call in flight resolve `trapped` with `disposed`. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle, ...this.busy];
    this.idle.length = 0;
    for (const c of all) {
      this.retired.add(c);
      c.kill("retired");
    }
    await Promise.all(all.map((c) => c.exited()));
  }

  stats(): { idle: number; busy: number; started: number; replaced: number } {
    return { idle: this.idle.length, busy: this.busy.size, started: this.started, replaced: this.replaced };
  }

  // ---- instances ----

  private async create(
    segment: CodeSegment,
    config: InstanceConfig,
    placement: IsolatedPlacement,
    snapshot: Snapshot | undefined,
  ): Promise<Instance> {
    const child = await this.checkout();
    const { trust, input, maxOutputBytes, maxLogBytes, capabilities, wasi } = placement;
    const createOptions: CreateOptions = { trust, input, maxOutputBytes, maxLogBytes };
    if (capabilities) createOptions.capabilities = capabilities.toStrings();
    createOptions.wasi = {
      args: [...wasi.args],
      env: [...wasi.env],
      preopens: wasi.preopens.map((p) => ({
        guestPath: p.guestPath,
        readOnly: p.directory.readOnly,
        async: isAsyncDirectory(p.directory),
      })),
    };
    createOptions.awaitDeadlineMs = placement.awaitDeadlineMs;
    child.awaitDeadlineMs = placement.awaitDeadlineMs;
    const request = {
      type: "create" as const,
      codeHash: segment.codeHash,
      config: { continuationStackBytes: config.continuationStackBytes, seed: config.seed },
      options: createOptions,
      ...(snapshot ? { snapshot } : {}),
    };
    // Before `create`: a start function may already call resources.
    child.hostCalls =
      capabilities || wasi.preopens.length > 0
        ? new HostCallServer({
            capabilities: capabilities ?? NO_GRANTS,
            provider: placement.resources ?? NO_RESOURCES,
            directories: wasi.preopens.map((p) => p.directory),
          })
        : undefined;
    let reply: Reply;
    try {
      reply = await child.request(child.loaded.has(segment.codeHash) ? request : { ...request, segment });
      if (!reply.ok && reply.needSegment) reply = await child.request({ ...request, segment });
    } catch (error) {
      if (error instanceof SandboxExit) {
        throw new FerryError("sandbox_unavailable", `the sandbox child ended while creating the instance: ${error.trap}`);
      }
      throw error;
    }
    if (!reply.ok) {
      // Bad module or snapshot for this child: the child itself is fine.
      this.giveBack(child, true);
      const { code, detail, message } = reply.error;
      if (code === "internal") throw new Error(`isolated sandbox child failed: ${message}`);
      throw new FerryError(code, detail);
    }
    child.loaded.add(segment.codeHash);
    const instance = new IsolatedInstance({
      child,
      codeHash: segment.codeHash,
      trust,
      input,
      // A copy, as in-process: the caller may reuse the snapshot's buffers.
      output: snapshot ? snapshot.output.slice() : new Uint8Array(0),
      timeoutMs: placement.timeoutMs,
      onLog: placement.onLog,
      release: (c, healthy) => this.giveBack(c, healthy),
    });
    instance.adopt(reply.view);
    return instance;
  }

  // ---- children ----

  private async checkout(): Promise<SandboxChild> {
    this.assertOpen();
    let child: SandboxChild | undefined;
    // Prefer a child that is ready; else one already starting; else start one (a cold start).
    const readyAt = this.idle.findIndex((c) => c.alive && c.readyAt !== undefined);
    if (readyAt >= 0) child = this.idle.splice(readyAt, 1)[0];
    else if (this.idle.length > 0) child = this.idle.shift();
    else if (this.alive() < this.config.maxChildren) child = this.spawn();
    else {
      throw new FerryError(
        "sandbox_unavailable",
        `all ${this.config.maxChildren} sandbox children host live instances (maxChildren): dispose some, or raise maxChildren`,
      );
    }
    this.busy.add(child!);
    try {
      await child!.awaitReady();
    } catch (error) {
      this.busy.delete(child!);
      this.refillBroken = true;
      throw error;
    }
    this.refillBroken = false;
    this.refill();
    return child!;
  }

  private giveBack(child: SandboxChild, healthy: boolean): void {
    if (!this.busy.delete(child)) return;
    child.hostCalls?.abandon();
    child.hostCalls = undefined;
    if (!healthy || !child.alive) {
      // Its exit (already seen, or coming) counts it as replaced and refills.
      child.kill("retired");
      return;
    }
    // Refill starts a child after every checkout; keeping returned ones up to twice `size` means a
    // loop of instantiate + dispose reuses children instead of starting and killing one per job.
    if (this.closed || this.idle.length >= 2 * this.config.size) {
      this.retired.add(child);
      child.kill("retired");
      return;
    }
    this.idle.push(child);
  }

  /** Start children in the background until `size` are idle (or starting). */
  private refill(): void {
    if (this.closed || this.refillBroken) return;
    while (this.idle.length < this.config.size && this.alive() < this.config.maxChildren) this.idle.push(this.spawn());
  }

  private spawn(): SandboxChild {
    this.script ??= requireChildScript();
    const child = new SandboxChild(this.config.transport, this.script, { maxHeapMb: this.config.maxHeapMb });
    this.started++;
    child.onExit(() => {
      const wasIdle = this.idle.indexOf(child);
      if (wasIdle >= 0) this.idle.splice(wasIdle, 1);
      this.busy.delete(child);
      if (this.retired.has(child) || this.closed) return;
      this.replaced++;
      this.refill();
    });
    return child;
  }

  private alive(): number {
    return this.idle.length + this.busy.size;
  }

  private assertOpen(): void {
    if (this.closed) throw new FerryError("sandbox_unavailable", "the isolated pool is closed");
  }
}

function normalise(o: IsolatedPoolOptions): PoolConfig {
  const int = (name: string, value: number | undefined, fallback: number, min: number, max: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new FerryError("invalid_option", `\`${name}\` must be an integer from ${min} to ${max}, got ${String(value)}`);
    }
    return value;
  };
  const maxChildren = int("maxChildren", o.maxChildren, DEFAULT_MAX_CHILDREN, 1, 4096);
  const size = int("size", o.size, Math.min(DEFAULT_POOL_SIZE, maxChildren), 0, maxChildren);
  const maxHeapMb = int("maxHeapMb", o.maxHeapMb, DEFAULT_CHILD_MAX_HEAP_MB, 16, 65_536);
  const transport = o.transport ?? "process";
  if (transport !== "process" && transport !== "worker") {
    throw new FerryError("invalid_option", `\`transport\` must be "process" or "worker", got ${String(transport)}`);
  }
  return { size, maxChildren, maxHeapMb, transport };
}

const NO_RESOURCES: ResourceProvider = { open: () => undefined };
/** Anonymous code's grants: none (it crosses to the parent only for its WASI directories). */
const NO_GRANTS = new CapabilitySet([]);
