// One instance's session of the resource interface (`ferry.resource_*`, descriptor in index.ts):
// its handle table and the four functions over it. Every call checks the instance's capabilities
// first, then bounds-checks guest pointers, so a guest can touch only what it was granted and only
// through its own memory.

import { MAX_HOST_IO_BYTES } from "../../limits.js";
import type { Access, CapabilitySet } from "../../resources/capabilities.js";
import type { ResourceHandle, ResourceProvider } from "../../resources/provider.js";
import { GuestTrap } from "../../traps.js";
import { guestBytes, HOST_CALL_FUEL, hostCallFuel } from "../guest-call.js";
import type { HostFunctions } from "../interface.js";

/** Open handles one instance may hold at once. */
export const MAX_OPEN_RESOURCES = 64;
/** Most bytes one `resource_read` or `resource_write` moves: it returns the count, maybe fewer than asked. */
export const MAX_RESOURCE_IO_BYTES = MAX_HOST_IO_BYTES;
/** Longest resource name a guest may pass, in bytes. */
export const MAX_RESOURCE_NAME_BYTES = 256;

/**
 * Fuel for opening a resource: name checks and a handful of file-system calls. A read-write open
 * that copies an existing file is charged its bytes on top, like reads and writes.
 */
export const RESOURCE_OPEN_FUEL = 5_000;

/** `access` flags of `resource_open`. */
export const ACCESS_READ = 1;
export const ACCESS_WRITE = 2;

/** Returned by `resource_open` when the (granted) resource does not exist. */
export const RESOURCE_NOT_FOUND = -1;

export interface ResourceGrant {
  capabilities: CapabilitySet;
  provider: ResourceProvider;
}

// ignoreBOM: a resource name starting with U+FEFF is another name, never the same one stripped.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The handles each set of imports holds, so its instance can drop them when it ends. */
const OPEN_HANDLES = new WeakMap<object, Map<number, ResourceHandle>>();

/**
 * The instance that got `imports` has ended: discard every handle it left open (nothing of them is
 * committed) so the provider gives back what they hold.
 */
export function discardOpenResources(imports: object): void {
  const open = OPEN_HANDLES.get(imports);
  if (!open) return;
  for (const r of open.values()) {
    try {
      r.discard?.();
    } catch {
      // a provider failing to clean up must not stop the others
    }
  }
  open.clear();
}

export function resourceImports(
  grant: ResourceGrant,
  memory: () => Uint8Array,
  /** Takes fuel for the work a call did: bytes moved, the open (see guest-call.ts). */
  chargeFuel: (fuel: number) => void = () => {},
): HostFunctions {
  const open = new Map<number, ResourceHandle>();
  let nextHandle = 1;

  const bytes = (ptr: number, len: number): Uint8Array => guestBytes(memory(), ptr, len, "resource call touched");
  const handle = (h: number): ResourceHandle => {
    const r = open.get(h);
    if (!r) throw new GuestTrap("host_error", `resource handle ${h} is not open`);
    return r;
  };

  const charge = (bytes: number): void => chargeFuel(hostCallFuel(bytes) - HOST_CALL_FUEL);
  const imports = {
    resource_open(namePtr: number, nameLen: number, flags: number): number {
      if (nameLen >>> 0 > MAX_RESOURCE_NAME_BYTES)
        throw new GuestTrap("host_error", `resource name longer than ${MAX_RESOURCE_NAME_BYTES} bytes`);
      let name: string;
      try {
        name = utf8.decode(bytes(namePtr, nameLen));
      } catch (e) {
        if (e instanceof GuestTrap) throw e;
        throw new GuestTrap("host_error", "resource name is not valid UTF-8");
      }
      if ((flags & ~(ACCESS_READ | ACCESS_WRITE)) !== 0 || flags === 0)
        throw new GuestTrap("host_error", `resource_open flags ${flags}: use 1 (read), 2 (write) or 3`);
      const access: Access[] = [];
      if (flags & ACCESS_READ) access.push("read");
      if (flags & ACCESS_WRITE) access.push("write");
      if (!grant.capabilities.allows(name, access)) {
        throw new GuestTrap("capability_denied", `"${name}" for ${access.join("+")}`);
      }
      if (open.size >= MAX_OPEN_RESOURCES) throw new GuestTrap("host_error", `more than ${MAX_OPEN_RESOURCES} resources open`);
      chargeFuel(RESOURCE_OPEN_FUEL);
      const r = grant.provider.open(name, access);
      if (!r) return RESOURCE_NOT_FOUND;
      charge(r.openedBytes ?? 0);
      const h = nextHandle++;
      open.set(h, r);
      return h;
    },
    resource_read(h: number, dst: number, len: number): number {
      const n = handle(h).read(bytes(dst, len).subarray(0, MAX_RESOURCE_IO_BYTES));
      charge(n);
      return n;
    },
    resource_write(h: number, src: number, len: number): number {
      const r = handle(h);
      // A copy (the provider must never hold a view of guest memory) of at most one piece: the
      // guest writes the rest with further calls, as it must after any short write.
      const n = r.write(bytes(src, len).slice(0, MAX_RESOURCE_IO_BYTES));
      charge(n);
      return n;
    },
    resource_close(h: number): void {
      handle(h).close();
      open.delete(h);
    },
  };
  OPEN_HANDLES.set(imports, open);
  return imports;
}
