// The parent's end of an isolated instance's resource calls: the trusted end. Every request from
// the child is checked again here (capability, handle, bounds) exactly as the in-process session
// (session.ts) checks a guest's call, and only then reaches the embedder's provider.

import type { Access } from "../../resources/capabilities.js";
import type { AsyncResourceHandle, ResourceHandle } from "../../resources/provider.js";
import { GuestTrap } from "../../traps.js";
import type { ParentGrant, RemoteAnswer, RemoteCall, RemoteServer } from "../interface.js";
import { CLOSE, OPEN, READ, WRITE } from "./calls.js";
import { MAX_OPEN_RESOURCES, RESOURCE_NOT_FOUND } from "./session.js";

// ignoreBOM: a resource name starting with U+FEFF is another name, never the same one stripped.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

type Handle = AsyncResourceHandle | ResourceHandle;

export class ResourceServer implements RemoteServer {
  private readonly open = new Map<number, Handle>();
  private nextHandle = 1;
  private abandoned = false;

  constructor(private readonly grant: ParentGrant) {}

  /** Handles still open (for tests and diagnostics). */
  get held(): number {
    return this.open.size;
  }

  /** `request` is what `call.decode` made of the child's fields (calls.ts). */
  async answer(call: RemoteCall, request: unknown): Promise<RemoteAnswer> {
    if (call === OPEN) return this.openOne(request as { flags: number; name: Uint8Array });
    if (call === READ) return this.read(request as { handle: number; length: number });
    if (call === WRITE) {
      const { handle, bytes } = request as { handle: number; bytes: Uint8Array };
      // A copy: the provider must never hold a view of a buffer we reuse.
      return { value: Number(await this.handle(handle).write(bytes.slice())) | 0, payload: NONE };
    }
    if (call === CLOSE) {
      const { handle } = request as { handle: number };
      await this.handle(handle).close();
      this.open.delete(handle);
      return { value: 0, payload: NONE };
    }
    throw new Error(`the resource interface has no remote call ${call.name}`);
  }

  /**
   * The instance is gone: drop its handles unclosed (a write never closed is never committed), and
   * let the provider give back what they hold.
   */
  abandon(): void {
    this.abandoned = true;
    const handles = [...this.open.values()];
    this.open.clear();
    for (const r of handles) drop(r);
  }

  private async openOne({ flags, name: nameBytes }: { flags: number; name: Uint8Array }): Promise<RemoteAnswer> {
    let name: string;
    try {
      name = utf8.decode(nameBytes);
    } catch {
      throw new GuestTrap("host_error", "resource name is not valid UTF-8");
    }
    const access: Access[] = [];
    if (flags & 1) access.push("read");
    if (flags & 2) access.push("write");
    // The check that counts: the child may have checked too, but the child is not trusted.
    if (!this.grant.capabilities.allows(name, access)) throw new GuestTrap("capability_denied", `"${name}" for ${access.join("+")}`);
    if (this.open.size >= MAX_OPEN_RESOURCES) throw new GuestTrap("host_error", `more than ${MAX_OPEN_RESOURCES} resources open`);
    const r = await this.grant.provider.open(name, access);
    // An async provider may answer after the instance ended: nobody will close that handle.
    if (this.abandoned) {
      if (r) drop(r);
      throw new GuestTrap("host_error", "the instance ended while the resource was being opened");
    }
    if (!r) return { value: RESOURCE_NOT_FOUND, payload: NONE };
    const value = this.nextHandle++;
    this.open.set(value, r);
    // What the open copied, so the child charges the guest for it (8 bytes, little-endian).
    const opened = new Uint8Array(8);
    new DataView(opened.buffer).setFloat64(0, Math.max(0, Number((r as { openedBytes?: number }).openedBytes ?? 0)) || 0, true);
    return { value, payload: opened };
  }

  private async read({ handle, length }: { handle: number; length: number }): Promise<RemoteAnswer> {
    const into = new Uint8Array(length);
    const n = Number(await this.handle(handle).read(into));
    if (!Number.isSafeInteger(n) || n < 0 || n > length) throw new GuestTrap("host_error", `resource read returned ${String(n)}`);
    return { value: n, payload: into.subarray(0, n) };
  }

  private handle(h: number): Handle {
    const r = this.open.get(h);
    if (!r) throw new GuestTrap("host_error", `resource handle ${h} is not open`);
    return r;
  }
}

const NONE = new Uint8Array(0);

/** Discard a handle nobody will close; a provider failing to clean up must not stop the others. */
function drop(r: Handle): void {
  try {
    void Promise.resolve(r.discard?.()).catch(() => undefined);
  } catch {
    // already reported nowhere: the instance is gone
  }
}
