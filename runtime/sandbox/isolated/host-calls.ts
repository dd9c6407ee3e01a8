// The synchronous host-call channel's wire format: a guest in a sandbox child calls a host function
// whose interface crosses to the parent (runtime/host/: a descriptor's `remote` calls), the child
// sends one length-prefixed request frame and blocks until the parent's answer. The op number and
// the rules of each request's fields come from the registry. Shared by both ends; no Node imports
// (the child loads it, and every import costs cold start).

import { HOST_CALL_MAX_IO_BYTES, opOf, REMOTE_CALLS, type HostInterface, type RemoteCall } from "../../host/index.js";
import { TRAP_MESSAGES, type TrapCode } from "../../traps.js";
/** Request body: op (1) + two u32 (8) + payload (a name or the bytes to write). */
export const HOST_CALL_REQUEST_HEADER_BYTES = 9;
export const HOST_CALL_MAX_REQUEST_BYTES = HOST_CALL_REQUEST_HEADER_BYTES + HOST_CALL_MAX_IO_BYTES;
/** Answer body: status (1) + i32 value (4) + payload (bytes read, or a trap's code and detail). */
export const HOST_CALL_ANSWER_HEADER_BYTES = 5;
export const HOST_CALL_MAX_ANSWER_BYTES = HOST_CALL_ANSWER_HEADER_BYTES + HOST_CALL_MAX_IO_BYTES;
/** Longest trap detail carried back (longer ones are cut). */
export const HOST_CALL_MAX_DETAIL_BYTES = 1024;
/** Every frame starts with its body's length, u32 little-endian. */
export const FRAME_PREFIX_BYTES = 4;

/**
 * Process transport: the child's fds for the channel (fd 3 is the IPC channel). Two one-way pipes,
 * so the child can block in readSync on answers while its writes go the other way.
 */
export const HOST_CALL_REQUEST_FD = 4;
export const HOST_CALL_ANSWER_FD = 5;

const STATUS_OK = 0;
const STATUS_TRAP = 1;

/** A decoded request: the remote call its op names, and the request as that call reads its fields. */
export interface HostCallRequest {
  op: number;
  /** The interface that answers it. */
  owner: HostInterface;
  call: RemoteCall;
  request: unknown;
}

export type HostCallAnswer = { ok: true; value: number; payload: Uint8Array } | { ok: false; trap: TrapCode; detail: string | undefined };

/**
 * Test-only faults a child can be told to commit (probe.ts): garble its next host call, declare a
 * huge length on it, or make a host call right away, while no request of the parent's is outstanding.
 */
export type HostCallFault = "garbage" | "oversized" | "unsolicited";

/** The child broke the channel's protocol: the parent kills it. */
export class HostCallViolation extends Error {}

const utf8 = new TextEncoder();
// ignoreBOM: a leading U+FEFF is the guest's text, not a marker to strip.
const fromUtf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

export function encodeRequest<R>(call: RemoteCall<R>, request: R): Uint8Array {
  const { a, b, payload } = call.encode(request);
  const body = new Uint8Array(HOST_CALL_REQUEST_HEADER_BYTES + payload.byteLength);
  const view = new DataView(body.buffer);
  view.setUint8(0, opOf(call));
  view.setUint32(1, a >>> 0, true);
  view.setUint32(5, b >>> 0, true);
  body.set(payload, HOST_CALL_REQUEST_HEADER_BYTES);
  return body;
}

/** Parent side: anything but a well-formed request is a protocol violation (the child is untrusted). */
export function decodeRequest(body: Uint8Array): HostCallRequest {
  if (body.byteLength < HOST_CALL_REQUEST_HEADER_BYTES || body.byteLength > HOST_CALL_MAX_REQUEST_BYTES) {
    throw new HostCallViolation(`host-call request of ${body.byteLength} bytes`);
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const op = view.getUint8(0);
  const fields = { a: view.getUint32(1, true), b: view.getUint32(5, true), payload: body.subarray(HOST_CALL_REQUEST_HEADER_BYTES) };
  const remote = REMOTE_CALLS[op - 1];
  const request = remote?.call.decode(fields);
  if (!remote || request === undefined) throw new HostCallViolation(`malformed host-call request (op ${op})`);
  return { op, owner: remote.owner, call: remote.call, request };
}

export function encodeAnswer(a: HostCallAnswer): Uint8Array {
  let payload: Uint8Array;
  if (a.ok) payload = a.payload;
  else {
    const text = utf8.encode(a.detail === undefined ? a.trap : `${a.trap}\n${a.detail}`);
    payload = text.subarray(0, HOST_CALL_MAX_DETAIL_BYTES);
  }
  const body = new Uint8Array(HOST_CALL_ANSWER_HEADER_BYTES + payload.byteLength);
  const view = new DataView(body.buffer);
  view.setUint8(0, a.ok ? STATUS_OK : STATUS_TRAP);
  view.setInt32(1, a.ok ? a.value : 0, true);
  body.set(payload, HOST_CALL_ANSWER_HEADER_BYTES);
  return body;
}

/** Child side. The parent is trusted, but a garbled answer still ends only the guest (host_error). */
export function decodeAnswer(body: Uint8Array): HostCallAnswer {
  if (body.byteLength < HOST_CALL_ANSWER_HEADER_BYTES) return { ok: false, trap: "host_error", detail: "garbled host-call answer" };
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const payload = body.subarray(HOST_CALL_ANSWER_HEADER_BYTES);
  if (view.getUint8(0) === STATUS_OK) return { ok: true, value: view.getInt32(1, true), payload };
  const text = fromUtf8.decode(payload);
  const nl = text.indexOf("\n");
  const code = nl < 0 ? text : text.slice(0, nl);
  const detail = nl < 0 ? undefined : text.slice(nl + 1);
  return Object.hasOwn(TRAP_MESSAGES, code) ? { ok: false, trap: code as TrapCode, detail } : { ok: false, trap: "host_error", detail };
}

/** `body` with its length prefix (or a lying one, for the fault tests). */
export function frame(body: Uint8Array, declaredLength = body.byteLength): Uint8Array {
  const out = new Uint8Array(FRAME_PREFIX_BYTES + body.byteLength);
  new DataView(out.buffer).setUint32(0, declaredLength >>> 0, true);
  out.set(body, FRAME_PREFIX_BYTES);
  return out;
}

/**
 * Worker transport: a SharedArrayBuffer holds one frame at a time. Int32 word 0 is the state,
 * word 1 the body length; the body starts at byte 16.
 */
export const SHARED_HEADER_BYTES = 16;
export const SHARED_CAPACITY_BYTES = Math.max(HOST_CALL_MAX_REQUEST_BYTES, HOST_CALL_MAX_ANSWER_BYTES);
export const SHARED_IDLE = 0;
/** The child wrote a request and waits (Atomics.wait) for the state to change. */
export const SHARED_REQUEST = 1;
/** The parent took the request and is working on it. */
export const SHARED_SERVING = 2;
/** The parent wrote the answer (and notified); the child reads it and sets IDLE. */
export const SHARED_ANSWER = 3;
