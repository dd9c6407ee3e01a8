// The child's side of resource calls: a ResourceProvider whose every call is a blocking request to
// the parent. The guest's imports stay the in-process ones (session.ts: pre-check, bounds, handle
// table), so a guest sees the same traps either way; the parent checks everything again (parent.ts).

import type { Access } from "../../resources/capabilities.js";
import type { ResourceHandle, ResourceProvider } from "../../resources/provider.js";
import { GuestTrap } from "../../traps.js";
import { HOST_CALL_MAX_IO_BYTES, type RemoteAsk } from "../interface.js";
import { CLOSE, OPEN, READ, WRITE } from "./calls.js";

const utf8 = new TextEncoder();

export function remoteResources(ask: RemoteAsk): ResourceProvider {
  return {
    open(name: string, access: readonly Access[]): ResourceHandle | undefined {
      const flags = (access.includes("read") ? 1 : 0) | (access.includes("write") ? 2 : 0);
      const { value: handle, payload: opened } = ask(OPEN, { flags, name: utf8.encode(name) });
      if (handle < 0) return undefined;
      const openedBytes = opened.byteLength === 8 ? new DataView(opened.buffer, opened.byteOffset, 8).getFloat64(0, true) : 0;
      return {
        openedBytes: Number.isFinite(openedBytes) && openedBytes > 0 ? openedBytes : 0,
        // Long calls go as several bounded requests; like a provider in-process, a read fills
        // `into` unless the resource ends first, and a write stops at the first short take.
        read(into: Uint8Array): number {
          let total = 0;
          do {
            const length = Math.min(HOST_CALL_MAX_IO_BYTES, into.byteLength - total);
            const { payload } = ask(READ, { handle, length });
            if (payload.byteLength > length) throw new GuestTrap("host_error", "host-call answer longer than asked");
            into.set(payload, total);
            total += payload.byteLength;
            if (payload.byteLength < length) break;
          } while (total < into.byteLength);
          return total;
        },
        write(bytes: Uint8Array): number {
          let total = 0;
          do {
            const chunk = bytes.subarray(total, total + HOST_CALL_MAX_IO_BYTES);
            const { value } = ask(WRITE, { handle, bytes: chunk });
            total += value;
            if (value !== chunk.byteLength) break;
          } while (total < bytes.byteLength);
          return total;
        },
        close(): void {
          ask(CLOSE, { handle });
        },
      };
    },
  };
}
