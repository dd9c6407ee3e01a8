// An instance whose guest runs in a sandbox child: every call is a request to the child, and each
// reply carries the instance's state, fuel, output and logs, so getters answer locally. When the
// child ends (deadline, dispose, crash, OOM, kill -9) the call in flight resolves `trapped`.

import type { EntryPoint } from "../../code/segment.js";
import { OutputBuffer } from "../../exec/output-buffer.js";
import { diffSnapshot } from "../../exec/snapshot-delta.js";
import { FerryError, type ErrorCode } from "../../errors.js";
import {
  checkSnapshotOptions,
  type InstanceStatus,
  type ResumeOptions,
  type RunOptions,
  type RunResult,
  type SnapshotOptions,
} from "../../exec/instance-api.js";
import type { Snapshot } from "../../exec/snapshot.js";
import { TRAP_MESSAGES, type TrapCode } from "../../traps.js";
import type { WasmValue } from "../../exec/values.js";
import type { Instance, TrustClass } from "../../exec/instance-api.js";
import type { InstanceView, Reply } from "./protocol.js";
import { SandboxExit, type SandboxChild } from "./sandbox-child.js";

export interface IsolatedInstanceInit {
  child: SandboxChild;
  codeHash: string;
  trust: TrustClass;
  input: Uint8Array;
  /** Output the instance starts with (a restored snapshot's). */
  output: Uint8Array;
  timeoutMs: number | undefined;
  onLog: ((line: string) => void) | undefined;
  /** Called once when the instance no longer needs its child; `healthy` if the child can host another. */
  release: (child: SandboxChild, healthy: boolean) => void;
}

/** Instance → its child, for diagnostics (probe.ts) without a public accessor on the instance. */
const CHILDREN = new WeakMap<IsolatedInstance, SandboxChild>();

export function sandboxChildOf(instance: IsolatedInstance): SandboxChild {
  return CHILDREN.get(instance)!;
}

export class IsolatedInstance implements Instance {
  readonly sandbox = "isolated" as const;
  readonly trust: TrustClass;
  readonly codeHash: string;
  private readonly child: SandboxChild;
  private status: InstanceStatus = "fresh";
  private fuel = 0;
  private run_: { entry: EntryPoint; args: WasmValue[] } | undefined;
  private readonly input: Uint8Array;
  private readonly outputBuffer = new OutputBuffer();
  private readonly logLines: string[] = [];
  private readonly timeoutMs: number | undefined;
  private readonly onLog: ((line: string) => void) | undefined;
  private readonly release: (child: SandboxChild, healthy: boolean) => void;
  private released = false;
  /** How the child ended while no call was in flight, for the next call's error. */
  private idleDeath: TrapCode | undefined;

  constructor(init: IsolatedInstanceInit) {
    this.child = init.child;
    CHILDREN.set(this, init.child);
    this.codeHash = init.codeHash;
    this.trust = init.trust;
    this.input = init.input;
    this.outputBuffer.append(init.output, true);
    this.timeoutMs = init.timeoutMs;
    this.onLog = init.onLog;
    this.release = init.release;
    this.child.logSink = (lines) => this.addLogs(lines);
    this.child.exitSink = (trap) => {
      this.releaseChild(false);
      // A call in flight gets the trap as its result; an idle instance simply ends here.
      if (this.status !== "running" && this.status !== "disposed") {
        this.idleDeath = trap;
        this.status = "trapped";
      }
    };
  }

  /** OS process id of the child hosting this instance. For diagnostics (and tests) only. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get state(): InstanceStatus {
    return this.status;
  }

  get fuelUsed(): number {
    return this.fuel;
  }

  get inputBytes(): Uint8Array {
    return this.input;
  }

  output(): Uint8Array {
    return this.outputBuffer.all();
  }

  outputSince(offset: number): Uint8Array {
    return this.outputBuffer.since(offset);
  }

  logs(): readonly string[] {
    return this.logLines;
  }

  currentRun(): { entry: EntryPoint; args: WasmValue[] } | undefined {
    return this.run_;
  }

  /** Take the state the child reported after `create` (restores start paused). */
  adopt(view: InstanceView | undefined): void {
    if (view) this.applyView(view);
  }

  async run(entry: string, args: readonly WasmValue[] = [], options: RunOptions = {}): Promise<RunResult> {
    this.assertUsable();
    if (this.status === "paused") throw new FerryError("instance_busy", "paused in a run: resume it, or dispose it");
    if (this.status === "trapped") throw this.finished();
    return this.call({ type: "run", entry, args: [...args], fuel: options.fuel, fuelLimit: options.fuelLimit, sliceMs: options.sliceMs });
  }

  async resume(options: ResumeOptions = {}): Promise<RunResult> {
    this.assertUsable();
    if (this.status === "done" || this.status === "trapped") throw this.finished();
    if (this.status !== "paused") throw new FerryError("instance_not_paused", `the instance is ${this.status}`);
    return this.call({ type: "resume", fuel: options.fuel, sliceMs: options.sliceMs });
  }

  async snapshot(options: SnapshotOptions = {}): Promise<Snapshot> {
    this.assertUsable();
    if (options.recycle !== undefined) {
      throw new FerryError(
        "invalid_option",
        '`recycle` reuses buffers inside one process and has no use with an isolated instance: drop it, or use sandbox: "in-process"',
      );
    }
    if (this.status !== "paused") throw new FerryError("instance_not_paused", `cannot snapshot an instance that is ${this.status}`);
    const { move, since } = checkSnapshotOptions(options, this.codeHash);
    let reply: Reply;
    try {
      reply = await this.child.request({ type: "snapshot", move });
    } catch (error) {
      if (error instanceof SandboxExit) throw this.finished(error.trap);
      throw error;
    }
    if (!reply.ok) throw this.childError(reply);
    if (move) {
      // The child dropped its instance and can host another.
      this.status = "disposed";
      this.outputBuffer.reset();
      this.releaseChild(true);
    } else if (reply.view) {
      this.applyView(reply.view);
    }
    // The whole state crossed the process boundary anyway: the delta is taken here.
    return since ? diffSnapshot(since, reply.snapshot!) : reply.snapshot!;
  }

  /** The child's instance waits for the answer; its state is not taken from this reply (a resume may be in flight by then). */
  async settled(): Promise<void> {
    if (this.status !== "paused" || !this.child.alive) return;
    try {
      await this.child.request({ type: "settled" });
    } catch {
      // the child ended: nothing is awaited any more
    }
  }

  dispose(): void {
    if (this.status === "disposed") return;
    const inFlight = this.status === "running";
    this.status = "disposed";
    this.outputBuffer.reset();
    if (!this.child.alive) return;
    if (inFlight) {
      // The child is busy in guest code and cannot hear us: end it; the call resolves `disposed`.
      this.child.kill("disposed");
      return;
    }
    this.child.post({ type: "dispose" });
    this.releaseChild(true);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- internals ----

  private async call(
    message:
      | { type: "run"; entry: string; args: WasmValue[]; fuel?: number; fuelLimit?: number; sliceMs?: number }
      | { type: "resume"; fuel?: number; sliceMs?: number },
  ): Promise<RunResult> {
    const before = this.status;
    this.status = "running";
    const timer = this.timeoutMs === undefined ? undefined : setTimeout(() => this.child.kill("deadline"), this.timeoutMs);
    let reply: Reply;
    try {
      reply = await this.child.request(message);
    } catch (error) {
      if (!(error instanceof SandboxExit)) throw error;
      if (this.status === "running") this.status = "trapped";
      return { status: "trapped", code: error.trap, message: TRAP_MESSAGES[error.trap], fuelUsed: this.fuel };
    } finally {
      if (timer) clearTimeout(timer);
    }
    if (reply.view) this.applyView(reply.view);
    else if (this.status === "running") this.status = before;
    if (!reply.ok) throw this.childError(reply);
    // dispose() from onLog while the reply's held-back lines were delivered: the run ends as in-process.
    if (this.status === "disposed") return { status: "trapped", code: "disposed", message: TRAP_MESSAGES.disposed, fuelUsed: this.fuel };
    if (this.callbackError !== undefined) {
      this.status = "trapped";
      this.releaseChild(false);
      return {
        status: "trapped",
        code: "host_error",
        message: `${TRAP_MESSAGES.host_error}: onLog threw: ${this.callbackError}`,
        fuelUsed: this.fuel,
      };
    }
    return reply.result!;
  }

  private applyView(view: InstanceView): void {
    if (this.status !== "disposed") this.status = view.state;
    this.fuel = view.fuelUsed;
    this.run_ = view.currentRun;
    this.outputBuffer.append(view.output, true);
    this.addLogs(view.logs);
  }

  /**
   * A throwing onLog must not escape into the IPC handler (it would crash the host). As in-process,
   * where the throw surfaces inside the guest's host call, it ends the run with host_error: a run in
   * flight is stopped by killing its child; a reply already in hand is turned into that trap.
   */
  private addLogs(lines: readonly string[]): void {
    for (const line of lines) {
      this.logLines.push(line);
      if (!this.onLog || this.callbackError !== undefined) continue;
      try {
        this.onLog(line);
      } catch (e) {
        this.callbackError = e instanceof Error ? e.message : String(e);
        if (this.status === "running") this.child.kill("callback");
      }
    }
  }

  private callbackError: string | undefined;

  private childError(reply: Extract<Reply, { ok: false }>): Error {
    const { code, detail, message } = reply.error;
    if (code === "internal") return new Error(`isolated sandbox child failed: ${message}`);
    return new FerryError(code as ErrorCode, detail);
  }

  private finished(trap: TrapCode | undefined = this.idleDeath): FerryError {
    return new FerryError("instance_finished", trap ? `the sandbox process hosting it ended: ${trap}` : "the instance trapped");
  }

  private releaseChild(healthy: boolean): void {
    if (this.released) return;
    this.released = true;
    this.child.logSink = undefined;
    this.child.exitSink = undefined;
    this.release(this.child, healthy);
  }

  private assertUsable(): void {
    if (this.status === "disposed") throw new FerryError("instance_disposed");
    if (this.status === "running") throw new FerryError("instance_busy");
  }
}
