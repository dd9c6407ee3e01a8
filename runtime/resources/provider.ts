// What the embedder supplies behind the resource host functions: named resources a guest can open
// for reading or writing. The resource-segment work adds binding kinds and migration actions;
// this file is the seam they plug into. `MemoryResources` is the in-memory reference provider.

import type { Access } from "./capabilities.js";

export interface ResourceHandle {
  /**
   * Bytes the open itself had to copy (a read-write open of an existing file starts from a copy of
   * it). The guest is charged fuel for them, like for the bytes it reads and writes.
   */
  readonly openedBytes?: number;
  /** Copy the next bytes into `into`; returns how many (0 at the end). */
  read(into: Uint8Array): number;
  /** Append `bytes`; returns how many were taken. */
  write(bytes: Uint8Array): number;
  close(): void;
  /**
   * Drop the handle without committing anything (its instance ended with it open), and give back
   * whatever it holds. Optional: a provider that holds nothing outside the handle object needs none.
   */
  discard?(): void;
}

export interface ResourceProvider {
  /** The resource called `name`, opened for `access`, or undefined when there is none. */
  open(name: string, access: readonly Access[]): ResourceHandle | undefined;
}

type MaybePromise<T> = T | Promise<T>;

/**
 * A provider whose calls may answer later. Only the isolated sandbox accepts one: there the guest
 * blocks in its own process while the parent's event loop goes on; in-process, a Wasm import must
 * answer synchronously.
 */
export interface AsyncResourceHandle {
  read(into: Uint8Array): MaybePromise<number>;
  write(bytes: Uint8Array): MaybePromise<number>;
  close(): MaybePromise<void>;
  /** Drop without committing; see ResourceHandle.discard. */
  discard?(): MaybePromise<void>;
}

export interface AsyncResourceProvider {
  open(name: string, access: readonly Access[]): MaybePromise<AsyncResourceHandle | undefined>;
}

/** Named byte strings held in memory: opening for write without read starts the value afresh. */
export class MemoryResources implements ResourceProvider {
  private readonly values = new Map<string, Uint8Array>();

  constructor(initial: Record<string, Uint8Array | string> = {}) {
    for (const [name, value] of Object.entries(initial)) this.set(name, value);
  }

  set(name: string, value: Uint8Array | string): void {
    this.values.set(name, typeof value === "string" ? new TextEncoder().encode(value) : value.slice());
  }

  get(name: string): Uint8Array | undefined {
    return this.values.get(name);
  }

  open(name: string, access: readonly Access[]): ResourceHandle | undefined {
    const existing = this.values.get(name);
    const writing = access.includes("write");
    if (!existing && !writing) return undefined;
    let value = writing && !access.includes("read") ? new Uint8Array(0) : (existing ?? new Uint8Array(0));
    let position = 0;
    const values = this.values;
    return {
      read(into) {
        const n = Math.min(into.byteLength, value.byteLength - position);
        into.set(value.subarray(position, position + n));
        position += n;
        return n;
      },
      write(bytes) {
        const next = new Uint8Array(value.byteLength + bytes.byteLength);
        next.set(value);
        next.set(bytes, value.byteLength);
        value = next;
        return bytes.byteLength;
      },
      close() {
        if (writing) values.set(name, value);
      },
    };
  }
}
