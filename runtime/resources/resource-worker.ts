// Entry point of the resource worker thread (resource-thread.ts): every call of the process's
// off-thread file providers runs here, one at a time, so the disk I/O a guest causes (writes, the
// copy a read-write open makes, the fsyncs and rename of a commit, quota walks) never runs on the
// host's event loop. One worker serves every root, so FileResources' per-root ledgers and its set of
// live temp files belong to one thread, and each call sees every other call's effect exactly as when
// all of them ran on the host's thread.

import { parentPort, threadId } from "node:worker_threads";
import { FerryError, type ErrorCode } from "../errors.js";
import { GuestTrap, type TrapCode } from "../traps.js";
import { MAX_HOST_IO_BYTES } from "../limits.js";
import type { Access } from "./capabilities.js";
import { FileResources, type ResourceUsage } from "./file-resources.js";
import type { ResourceHandle } from "./provider.js";
import { FsError, type FsErrorName } from "./directory.js";
import { type DirectoryMethod, type DirectorySpec, type FileMethod, serveDirectory, serveFile } from "./directory-worker.js";

/** A root and its limits, as the host checked them (FileResources checks them again here). */
export interface RootSpec {
  root: string;
  maxFileBytes: number;
  maxTotalBytes: number;
  maxEntries: number;
}

export type ResourceRequest = { id: number } & (
  | { op: "open"; spec: RootSpec; name: string; access: Access[] }
  | { op: "read"; handle: number; length: number }
  | { op: "write"; handle: number; bytes: Uint8Array }
  | { op: "close"; handle: number }
  | { op: "discard"; handle: number }
  /** Also removes temp files no live handle owns (after a worker died with handles open). */
  | { op: "usage"; spec: RootSpec }
  /** A HostDirectory call (directory-worker.ts, for OffThreadDirectory). */
  | { op: "dir"; spec: DirectorySpec; method: DirectoryMethod; args: unknown[] }
  /** A call on a file a "dir" openFile opened here. */
  | { op: "dirFile"; handle: number; method: FileMethod; args: unknown[]; bytes?: Uint8Array }
  /** Tests only: block this thread until `gate[0]` is set, as a slow disk would. */
  | { op: "hold"; gate: Int32Array }
);

export type ResourceAnswer = { id: number; threadId: number } & (
  | { ok: true; value: number; openedBytes?: number; bytes?: Uint8Array; usage?: ResourceUsage; result?: unknown }
  /** `trap` for a GuestTrap, `code` for a FerryError, `errno` for a Directory's FsError, none for anything else. */
  | { ok: false; trap?: TrapCode; code?: ErrorCode; errno?: FsErrorName; detail?: string; message: string }
);

const port = parentPort;
if (!port) throw new Error("resource-worker.ts runs as a worker thread (resource-thread.ts starts it)");

const handles = new Map<number, ResourceHandle>();
let nextHandle = 1;

port.on("message", (request: ResourceRequest) => {
  let answer: ResourceAnswer;
  let transfer: ArrayBuffer[] = [];
  try {
    const ok = serve(request);
    if (ok.bytes) transfer = [ok.bytes.buffer as ArrayBuffer];
    if (ok.result instanceof Uint8Array) transfer = [ok.result.buffer as ArrayBuffer];
    answer = { id: request.id, threadId, ok: true, ...ok };
  } catch (error) {
    answer = { id: request.id, threadId, ...failure(error) };
  }
  port.postMessage(answer, transfer);
});

function serve(r: ResourceRequest): { value: number; openedBytes?: number; bytes?: Uint8Array; usage?: ResourceUsage; result?: unknown } {
  switch (r.op) {
    case "dir":
      return { value: 0, result: serveDirectory(r.spec, r.method, r.args) };
    case "dirFile":
      if (
        r.method === "read" &&
        !(Number.isSafeInteger(r.args[0]) && (r.args[0] as number) >= 0 && (r.args[0] as number) <= MAX_HOST_IO_BYTES)
      )
        throw new Error(`directory read of ${String(r.args[0])} bytes`);
      if (r.bytes !== undefined && r.bytes.byteLength > MAX_HOST_IO_BYTES) throw new Error("directory write larger than one host call");
      return { value: 0, result: serveFile(r.handle, r.method, r.args, r.bytes) };
    case "open": {
      const h = provider(r.spec).open(r.name, r.access);
      if (!h) return { value: 0 };
      const id = nextHandle++;
      handles.set(id, h);
      return { value: id, openedBytes: h.openedBytes ?? 0 };
    }
    case "read": {
      // The host asks for at most one host call's worth; a larger ask is a bug there, not a guest's.
      if (!Number.isSafeInteger(r.length) || r.length < 0 || r.length > MAX_HOST_IO_BYTES)
        throw new Error(`resource read of ${r.length} bytes`);
      const bytes = new Uint8Array(r.length);
      const n = handle(r.handle).read(bytes);
      return { value: n, bytes: bytes.subarray(0, n).slice() };
    }
    case "write":
      if (!(r.bytes instanceof Uint8Array) || r.bytes.byteLength > MAX_HOST_IO_BYTES)
        throw new Error("resource write larger than one host call");
      return { value: handle(r.handle).write(r.bytes) };
    case "close": {
      const h = handle(r.handle);
      // Gone from the table whatever the commit does: FileResources releases the handle either way.
      handles.delete(r.handle);
      h.close();
      return { value: 0 };
    }
    case "discard": {
      const h = handles.get(r.handle);
      handles.delete(r.handle);
      h?.discard?.();
      return { value: 0 };
    }
    case "usage":
      return { value: 0, usage: provider(r.spec).usage() };
    case "hold":
      while (Atomics.load(r.gate, 0) === 0) Atomics.wait(r.gate, 0, 0);
      return { value: 0 };
  }
}

function provider(spec: RootSpec): FileResources {
  // Cheap (no disk): the ledgers that matter are FileResources' own, per real root, in this thread.
  return new FileResources(spec.root, { maxFileBytes: spec.maxFileBytes, maxTotalBytes: spec.maxTotalBytes, maxEntries: spec.maxEntries });
}

function handle(id: number): ResourceHandle {
  const h = handles.get(id);
  if (!h) throw new GuestTrap("host_error", `resource handle ${id} is not open`);
  return h;
}

function failure(error: unknown): { ok: false; trap?: TrapCode; code?: ErrorCode; errno?: FsErrorName; detail?: string; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof FsError) return { ok: false, errno: error.errno, message };
  if (error instanceof GuestTrap)
    return { ok: false, trap: error.trap, ...(error.detail === undefined ? {} : { detail: error.detail }), message };
  if (error instanceof FerryError)
    return { ok: false, code: error.code, ...(error.detail === undefined ? {} : { detail: error.detail }), message };
  return { ok: false, message };
}
