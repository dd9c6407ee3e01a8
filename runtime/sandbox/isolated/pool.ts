// The isolated sandbox's pool of pre-started child processes (or worker threads): one live
// instance per child, warm children kept idle, dead children replaced. Skeleton; filling in.

import type { CodeSegment } from "../../code/instrument.js";
import type { InstanceConfig } from "../../exec/guest-instance.js";
import type { Snapshot } from "../../exec/snapshot.js";
import type { Instance, TrustClass } from "../instance.js";

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

export interface IsolatedInstanceOptions {
  input?: Uint8Array;
  maxOutputBytes?: number;
  maxLogBytes?: number;
  onLog?: (line: string) => void;
  trust: TrustClass;
  /** Wall-clock deadline per run/resume call, ms; past it the child is killed: trapped `deadline_exceeded`. */
  timeoutMs?: number;
}

export class IsolatedPool {
  constructor(options: IsolatedPoolOptions = {}) {
    void options;
  }

  async instantiate(segment: CodeSegment, config: InstanceConfig, options: IsolatedInstanceOptions): Promise<Instance> {
    void segment, config, options;
    throw new Error("IsolatedPool: not implemented yet");
  }

  /** A fresh child instance with `snapshot` applied (paused where the source was). */
  async restore(segment: CodeSegment, config: InstanceConfig, options: IsolatedInstanceOptions, snapshot: Snapshot): Promise<Instance> {
    void segment, config, options, snapshot;
    throw new Error("IsolatedPool: not implemented yet");
  }

  async close(): Promise<void> {}

  stats(): { idle: number; busy: number; started: number; replaced: number } {
    return { idle: 0, busy: 0, started: 0, replaced: 0 };
  }
}
