// The parent's side of an isolated instance's resource calls: the trusted end. Every request from
// the child is checked again here (capability, handle, bounds) exactly as the in-process host
// interface checks a guest's call, and only then reaches the embedder's ResourceProvider.

import type { Access, CapabilitySet } from "../../resources/capabilities.js";
import { MAX_OPEN_RESOURCES, RESOURCE_NOT_FOUND } from "../../resources/host-interface.js";
import type { ResourceHandle, ResourceProvider } from "../../resources/provider.js";
import { GuestTrap, TRAP_MESSAGES, type TrapCode } from "../../traps.js";
import { decodeRequest, encodeAnswer, OP_CLOSE, OP_OPEN, OP_READ, OP_WRITE, type HostCallAnswer } from "./host-calls.js";

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

// ignoreBOM: a resource name starting with U+FEFF is another name, never the same one stripped.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export class HostCallServer {
  private readonly open = new Map<number, AsyncResourceHandle | ResourceHandle>();
  private nextHandle = 1;
  private abandoned = false;

  constructor(
    private readonly capabilities: CapabilitySet,
    private readonly provider: ResourceProvider | AsyncResourceProvider,
  ) {}

  /** Handles still open (for tests and diagnostics). */
  get openHandles(): number {
    return this.open.size;
  }

  /**
   * Answer one request body. Throws HostCallViolation for a malformed request (the caller kills the
   * child); everything a guest could cause honestly becomes a trap answer, as in-process.
   */
  async serve(body: Uint8Array): Promise<Uint8Array> {
    const request = decodeRequest(body);
    let answer: HostCallAnswer;
    try {
      answer = { ok: true, value: 0, payload: new Uint8Array(0) };
      switch (request.op) {
        case OP_OPEN: {
          let name: string;
          try {
            name = utf8.decode(request.name);
          } catch {
            throw new GuestTrap("host_error", "resource name is not valid UTF-8");
          }
          const access: Access[] = [];
          if (request.flags & 1) access.push("read");
          if (request.flags & 2) access.push("write");
          // The check that counts: the child may have checked too, but the child is not trusted.
          if (!this.capabilities.allows(name, access)) throw new GuestTrap("capability_denied", `"${name}" for ${access.join("+")}`);
          if (this.open.size >= MAX_OPEN_RESOURCES) throw new GuestTrap("host_error", `more than ${MAX_OPEN_RESOURCES} resources open`);
          const r = await this.provider.open(name, access);
          // An async provider may answer after the instance ended: nobody will close that handle.
          if (this.abandoned) {
            if (r) drop(r);
            throw new GuestTrap("host_error", "the instance ended while the resource was being opened");
          }
          if (!r) answer.value = RESOURCE_NOT_FOUND;
          else {
            answer.value = this.nextHandle++;
            this.open.set(answer.value, r);
            // What the open copied, so the child charges the guest for it (8 bytes, little-endian).
            const opened = new Uint8Array(8);
            new DataView(opened.buffer).setFloat64(0, Math.max(0, Number((r as { openedBytes?: number }).openedBytes ?? 0)) || 0, true);
            answer.payload = opened;
          }
          break;
        }
        case OP_READ: {
          const into = new Uint8Array(request.length);
          const n = Number(await this.handle(request.handle).read(into));
          if (!Number.isSafeInteger(n) || n < 0 || n > request.length)
            throw new GuestTrap("host_error", `resource read returned ${String(n)}`);
          answer.value = n;
          answer.payload = into.subarray(0, n);
          break;
        }
        case OP_WRITE:
          // A copy: the provider must never hold a view of a buffer we reuse.
          answer.value = Number(await this.handle(request.handle).write(request.bytes.slice())) | 0;
          break;
        case OP_CLOSE:
          await this.handle(request.handle).close();
          this.open.delete(request.handle);
          break;
      }
    } catch (error) {
      answer = trapAnswer(error);
    }
    return encodeAnswer(answer);
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

  private handle(h: number): AsyncResourceHandle | ResourceHandle {
    const r = this.open.get(h);
    if (!r) throw new GuestTrap("host_error", `resource handle ${h} is not open`);
    return r;
  }
}

/** Discard a handle nobody will close; a provider failing to clean up must not stop the others. */
function drop(r: AsyncResourceHandle | ResourceHandle): void {
  try {
    void Promise.resolve(r.discard?.()).catch(() => undefined);
  } catch {
    // already reported nowhere: the instance is gone
  }
}

/** What a provider threw, as the trap the in-process host interface would report (classifyTrap). */
function trapAnswer(error: unknown): HostCallAnswer {
  if (error instanceof GuestTrap && Object.hasOwn(TRAP_MESSAGES, error.trap)) return { ok: false, trap: error.trap, detail: error.detail };
  const trap: TrapCode = "host_error";
  return { ok: false, trap, detail: error instanceof Error ? error.message : String(error) };
}
