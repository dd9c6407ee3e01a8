// One sandbox child as the pool and an instance see it: start-up handshake, request/response by id,
// the log stream, and its end (every outstanding request then fails with the child's trap code).
// The parent's event loop is held open only while a request is outstanding.

import { FerryError } from "../../errors.js";
import type { TrapCode } from "../../traps.js";
import { exitTrap, type ChildExit, type KillReason } from "./exit-trap.js";
import { HostCallViolation } from "./host-calls.js";
import type { HostCallServer } from "./host-call-server.js";
import { MAX_ASYNC_HOST_CALLS, type Reply, type Request } from "./protocol.js";
import { DEFAULT_AWAIT_DEADLINE_MS } from "../../limits.js";
import { spawnProcessChild } from "./process-transport.js";
import type { ChildHandle, SpawnOptions, TransportKind } from "./transport.js";
import { spawnWorkerChild } from "./worker-transport.js";

/** How long a child may take from spawn to `ready` before it is killed as wedged. */
export const CHILD_START_TIMEOUT_MS = 10_000;

type Outgoing = Request extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/** A request ended because the child did: carries the trap code for the call it was serving. */
export class SandboxExit extends Error {
  constructor(
    readonly trap: TrapCode,
    readonly exit: ChildExit,
  ) {
    super(`sandbox child ended: ${trap}`);
  }
}

export class SandboxChild {
  private readonly handle: ChildHandle;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: unknown) => void }>();
  private exitInfo: ChildExit | undefined;
  private exitListeners: Array<(trap: TrapCode, exit: ChildExit) => void> = [];
  /** Whoever wants the guest's log lines as they arrive (the instance hosted now). */
  logSink: ((lines: string[]) => void) | undefined;
  /** The instance hosted now, told when the child ends (after its call in flight has failed). */
  exitSink: ((trap: TrapCode) => void) | undefined;
  /**
   * The resource calls of the instance hosted now (authenticated instances only). Requests are
   * accepted only while a request of ours is outstanding and one at a time; anything else, or a
   * malformed frame, kills the child (`protocol`, trap `host_error`).
   */
  hostCalls: HostCallServer | undefined;
  private serving = false;
  /** Awaited host calls outstanding (`host-call-async`), and how long one holds its slot here. */
  private asyncCalls = 0;
  awaitDeadlineMs = DEFAULT_AWAIT_DEADLINE_MS;
  /** Why the child was killed for breaking the host-call protocol, for diagnostics. */
  violation: string | undefined;
  /** Code hashes this child has compiled (a hint: the child says so when it has dropped one). */
  readonly loaded = new Set<string>();
  readonly ready: Promise<void>;
  /** When the child was asked to start, for the pool's stats. */
  readonly spawnedAt = performance.now();
  readyAt: number | undefined;

  constructor(transport: TransportKind, script: URL, options: SpawnOptions) {
    this.handle = transport === "worker" ? spawnWorkerChild(script, options) : spawnProcessChild(script, options);
    this.handle.unref();
    let markReady: () => void = () => {};
    let failStart: (e: unknown) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    // Nobody may be waiting on a background start; a failed one is reported on checkout instead.
    this.ready.catch(() => {});
    // A child that never says ready (a wedged start) must not leave a checkout waiting forever.
    const startTimer = setTimeout(() => {
      if (this.readyAt === undefined) this.kill("retired");
    }, CHILD_START_TIMEOUT_MS);
    startTimer.unref();
    this.handle.onEvent((event) => {
      if (event.type === "ready") {
        clearTimeout(startTimer);
        this.readyAt = performance.now();
        markReady();
      } else if (event.type === "log") {
        this.logSink?.(event.lines);
      } else if (event.type === "host-call-async") {
        this.serveAwaited(event.call, event.body);
      } else if (event.type === "reply") {
        const waiter = this.pending.get(event.id);
        if (!waiter) return;
        this.pending.delete(event.id);
        if (this.pending.size === 0) this.handle.unref();
        waiter.resolve(event);
      }
    });
    this.handle.onHostCall((call) => {
      if ("violation" in call) return this.violate(call.violation);
      const server = this.hostCalls;
      if (!server) return this.violate("host call from an instance without resources");
      if (this.pending.size === 0) return this.violate("host call while no request is outstanding");
      if (this.serving) return this.violate("host call while another is being served");
      this.serving = true;
      server.serve(call.body).then(
        (answer) => {
          this.serving = false;
          // The instance may have been released meanwhile (it then killed or retired the child).
          if (!this.alive || this.hostCalls !== server) return;
          if (!this.handle.answerHostCall(answer)) this.violate("the child does not take its host-call answers");
        },
        (error: unknown) => {
          this.serving = false;
          this.violate(error instanceof HostCallViolation ? error.message : `host-call server failed: ${String(error)}`);
        },
      );
    });
    this.handle.onExit((exit) => {
      this.exitInfo = exit;
      const trap = exitTrap(exit);
      failStart(new FerryError("sandbox_unavailable", `the sandbox child ended while starting (${describeExit(exit)})`));
      const waiters = [...this.pending.values()];
      this.pending.clear();
      for (const w of waiters) w.reject(new SandboxExit(trap, exit));
      this.exitSink?.(trap);
      for (const l of this.exitListeners) l(trap, exit);
    });
  }

  /**
   * An awaited host call: answered whenever the directory answers, as a `host-answer` message; the
   * child is idle or running meanwhile. Its slot is freed at the deadline too (the child has given
   * up by then), so a far end that never answers cannot fill the slots.
   */
  private serveAwaited(call: unknown, body: unknown): void {
    const server = this.hostCalls;
    const refused = !server
      ? "host call from an instance without resources"
      : !Number.isSafeInteger(call) || !(body instanceof Uint8Array)
        ? "malformed awaited host call"
        : this.asyncCalls >= MAX_ASYNC_HOST_CALLS
          ? `more than ${MAX_ASYNC_HOST_CALLS} awaited host calls outstanding`
          : undefined;
    if (refused !== undefined || !server || !(body instanceof Uint8Array)) {
      this.violate(refused ?? "malformed awaited host call");
      return;
    }
    this.asyncCalls += 1;
    let held = true;
    const free = (): void => {
      if (held) this.asyncCalls -= 1;
      held = false;
    };
    const timer = setTimeout(free, this.awaitDeadlineMs);
    timer.unref();
    server.serve(body).then(
      (answer) => {
        clearTimeout(timer);
        free();
        if (this.alive && this.hostCalls === server) this.handle.send({ id: 0, type: "host-answer", call: call as number, body: answer });
      },
      (error: unknown) => {
        clearTimeout(timer);
        free();
        this.violate(error instanceof HostCallViolation ? error.message : `host-call server failed: ${String(error)}`);
      },
    );
  }

  get pid(): number | undefined {
    return this.handle.pid;
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  get busy(): boolean {
    return this.pending.size > 0;
  }

  /** While `ready` is awaited by someone, keep the loop alive for it. */
  async awaitReady(): Promise<void> {
    if (this.readyAt !== undefined) return;
    this.handle.ref();
    try {
      await this.ready;
    } finally {
      if (this.pending.size === 0) this.handle.unref();
    }
  }

  /** Send a request; resolves with the reply, rejects with SandboxExit if the child ends first. */
  request(message: Outgoing): Promise<Reply> {
    if (this.exitInfo) return Promise.reject(new SandboxExit(exitTrap(this.exitInfo), this.exitInfo));
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) this.handle.ref();
      this.handle.send({ ...message, id } as Request);
    });
  }

  /** Send without waiting for the reply (dispose of an idle instance). */
  post(message: Outgoing): void {
    if (this.exitInfo) return;
    this.handle.send({ ...message, id: 0 } as Request);
  }

  onExit(listener: (trap: TrapCode, exit: ChildExit) => void): void {
    if (this.exitInfo) listener(exitTrap(this.exitInfo), this.exitInfo);
    else this.exitListeners.push(listener);
  }

  private violate(reason: string): void {
    if (!this.alive) return;
    this.violation ??= reason;
    this.kill("protocol");
  }

  kill(reason: KillReason): void {
    if (!this.alive) return;
    // Until the exit arrives someone may be awaiting it (close(), a call in flight): hold the loop.
    this.handle.ref();
    this.handle.kill(reason);
  }

  /** Resolves once the child is gone (at once if it already is). */
  exited(): Promise<void> {
    return new Promise((resolve) => this.onExit(() => resolve()));
  }
}

export function describeExit(exit: ChildExit): string {
  if (exit.outOfMemory) return "out of heap memory";
  if (exit.signal) return `signal ${exit.signal}`;
  return `exit code ${String(exit.code)}`;
}
