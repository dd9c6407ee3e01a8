// FileResources served off the host's event loop: the same files, names, limits and quotas, but
// every call runs in the process's resource worker (resource-thread.ts) and answers with a promise.
// For isolated guests, whose resource calls the host answers asynchronously anyway (the guest waits
// in its own process): a write, the copy a read-write open makes and the fsyncs of a commit then
// cost the host's event loop one message, not the disk's latency. In-process guests need a
// synchronous provider and cannot use this one (Engine refuses it).

import { FerryError } from "../errors.js";
import { GuestTrap } from "../traps.js";
import { MAX_HOST_IO_BYTES } from "../limits.js";
import type { AsyncResourceHandle, AsyncResourceProvider } from "./provider.js";
import type { Access } from "./capabilities.js";
import { FileResources, type FileResourcesOptions, type ResourceUsage } from "./file-resources.js";
import { sharedResourceThread, type ResourceThread } from "./resource-thread.js";
import type { RootSpec } from "./resource-worker.js";

/** A handle the embedder dropped without close or discard is discarded in the worker, eventually. */
const ABANDONED = new FinalizationRegistry<() => void>((discard) => discard());

export class OffThreadFileResources implements AsyncResourceProvider {
  /** The root as given, made absolute. */
  readonly root: string;
  readonly maxFileBytes: number;
  readonly maxTotalBytes: number;
  readonly maxEntries: number;
  private readonly spec: RootSpec;

  constructor(
    rootDir: string,
    options: FileResourcesOptions = {},
    private readonly thread: ResourceThread = sharedResourceThread(),
  ) {
    // FileResources checks the root and the options and touches no disk doing so.
    const checked = new FileResources(rootDir, options);
    this.root = checked.root;
    this.maxFileBytes = checked.maxFileBytes;
    this.maxTotalBytes = checked.maxTotalBytes;
    this.maxEntries = checked.maxEntries;
    this.spec = { root: this.root, maxFileBytes: this.maxFileBytes, maxTotalBytes: this.maxTotalBytes, maxEntries: this.maxEntries };
  }

  async open(name: string, access: readonly Access[]): Promise<AsyncResourceHandle | undefined> {
    if (typeof name !== "string") throw new GuestTrap("host_error", "resource name must be a string");
    const wanted = [...access];
    if (wanted.some((a) => a !== "read" && a !== "write"))
      throw new FerryError("invalid_option", `access must be "read" and/or "write", got ${JSON.stringify(wanted)}`);
    const generation = this.thread.liveGeneration;
    const answer = await this.thread.call({ op: "open", spec: this.spec, name, access: wanted });
    if (answer.value === 0) return undefined;
    return this.handle(generation, answer.value, answer.openedBytes ?? 0, name);
  }

  /** What the root holds now (measured in the worker). */
  async usage(): Promise<ResourceUsage> {
    const answer = await this.thread.call({ op: "usage", spec: this.spec });
    return answer.usage!;
  }

  private handle(
    generation: number,
    id: number,
    openedBytes: number,
    name: string,
  ): AsyncResourceHandle & { readonly openedBytes: number } {
    const thread = this.thread;
    thread.opened(generation, id, this.spec);
    let ended = false;
    const live = (): void => {
      if (ended) throw new GuestTrap("host_error", `"${name}" is closed`);
      if (thread.liveGeneration !== generation) {
        throw new GuestTrap("host_error", `"${name}" was lost when the resource worker stopped; nothing of it was committed`);
      }
    };
    const end = (op: "close" | "discard"): Promise<void> => {
      ended = true;
      ABANDONED.unregister(handle);
      if (thread.liveGeneration !== generation) return Promise.resolve();
      return thread.call({ op, handle: id }).then(
        () => thread.ended(generation, id),
        (error: unknown) => {
          thread.ended(generation, id);
          throw error;
        },
      );
    };
    const handle = {
      openedBytes,
      read: async (into: Uint8Array): Promise<number> => {
        live();
        const answer = await thread.call({ op: "read", handle: id, length: Math.min(into.byteLength, MAX_HOST_IO_BYTES) });
        const got = answer.bytes!;
        into.set(got);
        return got.byteLength;
      },
      write: async (bytes: Uint8Array): Promise<number> => {
        live();
        // At most one host call's worth (a short write: the caller writes the rest). A view of a
        // larger or shared buffer is copied first: posting a view clones its whole buffer.
        const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
        const piece = whole && bytes.byteLength <= MAX_HOST_IO_BYTES ? bytes : new Uint8Array(bytes.subarray(0, MAX_HOST_IO_BYTES));
        // A copy of our own is moved to the worker, not cloned again (cloning 1 MiB costs ms; the caller's bytes are never detached).
        return (await thread.call({ op: "write", handle: id, bytes: piece }, piece === bytes ? [] : [piece.buffer as ArrayBuffer])).value;
      },
      close: async (): Promise<void> => {
        live();
        await end("close");
      },
      discard: async (): Promise<void> => {
        if (!ended) await end("discard");
      },
    };
    // Ids start again in a new worker: only the worker that gave this id out may discard it.
    const collected = (): void => {
      if (thread.liveGeneration === generation)
        void thread.call({ op: "discard", handle: id }).then(
          () => thread.ended(generation, id),
          () => undefined,
        );
    };
    ABANDONED.register(handle, collected, handle);
    return handle;
  }
}
