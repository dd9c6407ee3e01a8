// Snapshots written to files off the event loop: a node's periodic checkpoints must not stall the
// jobs and requests it serves while megabytes are compressed, hashed and fsynced. The caller
// captures (that needs the paused guest, so it stays on the loop); one worker thread
// (snapshot-file-worker.ts) does the rest and hands back a complete, fsynced temp file and its
// sha256, which the caller renames where it belongs (a content-addressed store, say).

import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { compiledRoomDir } from "../dist-twin.js";
import { ERROR_MESSAGES, type ErrorCode, FerryError } from "../errors.js";
import type { Snapshot } from "./snapshot.js";
import { PAGE_DIGEST_BYTES } from "./page-digests.js";
import type { SnapshotCompression } from "./snapshot-compression.js";
import type { SnapshotFileAnswer, SnapshotFileRequest } from "./snapshot-file-worker.js";

/** A written file: complete and fsynced, named like atomic-file.ts's temp files, not yet in place. */
export interface SnapshotFile {
  temp: string;
  /** sha256 of the file's bytes (prefix and encoded snapshot), hex. */
  sha256: string;
  size: number;
}

export interface SnapshotFileOptions {
  /** The directory of the temp file: on the file system of where it will be renamed to. */
  dir: string;
  /** Bytes before the encoded snapshot (a format's header). */
  prefix?: Uint8Array;
  compression?: SnapshotCompression;
  /**
   * Format version 4 (a page table of digests): pages that carry their digest are not hashed again,
   * and the snapshot's pages that did not are given theirs once the file is written, so a later
   * snapshot that reuses them (applyDelta on this one) hashes only what changed.
   */
  pageTable?: boolean;
}

interface Pending {
  resolve: (f: SnapshotFile) => void;
  reject: (e: Error) => void;
  snapshot: Snapshot;
}

export class SnapshotFileWriter {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  /**
   * Encode `snapshot` and write it, after `prefix`, to a new temp file in `dir`. The snapshot is
   * copied to the worker (its buffers stay the caller's). Rejects with the encoder's FerryError
   * (snapshot_malformed...) or the file system's error; a worker that dies fails what it held and
   * the next write starts another.
   */
  write(snapshot: Snapshot, options: SnapshotFileOptions): Promise<SnapshotFile> {
    if (this.closed) return Promise.reject(new Error("the snapshot writer is closed"));
    const id = this.nextId++;
    const request: SnapshotFileRequest = {
      id,
      snapshot,
      prefix: options.prefix,
      dir: options.dir,
      compression: options.compression,
      pageTable: options.pageTable,
    };
    return new Promise<SnapshotFile>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, snapshot });
      const worker = this.start();
      worker.ref(); // a write in flight keeps the process up until its file is whole
      worker.postMessage(request);
    });
  }

  /** Stop the worker; writes in flight fail (their temp files are left for the owner's sweep). */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
    this.failAll(new Error("the snapshot writer closed"));
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(workerScript(), { execArgv: [], env: {} });
    worker.unref();
    worker.on("message", (a: SnapshotFileAnswer) => this.onAnswer(a));
    worker.on("error", (e: Error) => this.lost(worker, e));
    worker.on("exit", (code) => this.lost(worker, new Error(`the snapshot writer's worker exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private onAnswer(a: SnapshotFileAnswer): void {
    const p = this.pending.get(a.id);
    if (!p) return;
    this.pending.delete(a.id);
    if (this.pending.size === 0) this.worker?.unref();
    if (a.ok) {
      if (a.digests) returnDigests(p.snapshot, a.digests);
      p.resolve({ temp: a.temp, sha256: a.sha256, size: a.size });
    } else if (a.code !== undefined && a.code in ERROR_MESSAGES) p.reject(new FerryError(a.code as ErrorCode, a.detail));
    else p.reject(Object.assign(new Error(a.message), a.code === undefined ? {} : { code: a.code }));
  }

  private lost(worker: Worker, e: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.failAll(e);
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

/** The worker's page digests onto the caller's pages that had none (and are still the ones it sent). */
function returnDigests(s: Snapshot, digests: Uint8Array): void {
  if (digests.byteLength !== s.memory.pages.length * PAGE_DIGEST_BYTES) return;
  for (const [i, p] of s.memory.pages.entries()) {
    if (p.digest === undefined && Object.isExtensible(p)) p.digest = digests.subarray(i * PAGE_DIGEST_BYTES, (i + 1) * PAGE_DIGEST_BYTES);
  }
}

function workerScript(): URL {
  const fail = (detail: string) => new FerryError("invalid_option", detail);
  return pathToFileURL(join(compiledRoomDir(import.meta.url, "exec", "snapshot-file-worker.js", fail), "snapshot-file-worker.js"));
}
