// How the resource interface's calls cross from an isolated child to the parent: four requests
// (open, read, write, close), each as the two u32 and payload of a host-call frame
// (sandbox/isolated/host-calls.ts frames them; the op number is the call's place in the registry).
// `decode` is the parent's reading of an untrusted child: any field out of its rules is a violation.

import { HOST_CALL_MAX_IO_BYTES, type RemoteCall } from "../interface.js";
import { MAX_RESOURCE_NAME_BYTES } from "./session.js";

const NONE = new Uint8Array(0);

export const OPEN: RemoteCall<{ flags: number; name: Uint8Array }> = {
  name: "open",
  encode: ({ flags, name }) => ({ a: flags, b: 0, payload: name }),
  decode: ({ a, b, payload }) =>
    b !== 0 || payload.byteLength > MAX_RESOURCE_NAME_BYTES || a < 1 || a > 3 ? undefined : { flags: a, name: payload },
};

export const READ: RemoteCall<{ handle: number; length: number }> = {
  name: "read",
  encode: ({ handle, length }) => ({ a: handle, b: length, payload: NONE }),
  decode: ({ a, b, payload }) => (payload.byteLength !== 0 || b > HOST_CALL_MAX_IO_BYTES ? undefined : { handle: a, length: b }),
};

export const WRITE: RemoteCall<{ handle: number; bytes: Uint8Array }> = {
  name: "write",
  encode: ({ handle, bytes }) => ({ a: handle, b: 0, payload: bytes }),
  decode: ({ a, b, payload }) => (b !== 0 ? undefined : { handle: a, bytes: payload }),
};

export const CLOSE: RemoteCall<{ handle: number }> = {
  name: "close",
  encode: ({ handle }) => ({ a: handle, b: 0, payload: NONE }),
  decode: ({ a, b, payload }) => (b !== 0 || payload.byteLength !== 0 ? undefined : { handle: a }),
};

/** In op order: open is op 1, read 2, write 3, close 4 while this is the registry's first remote interface. */
export const RESOURCE_CALLS = [OPEN, READ, WRITE, CLOSE] as const;
