// The body of a global reference's call (POST /peer/resources/:pin) and of its answer. A call is one
// file-system request exactly as an isolated child sends its parent (runtime fs-wire: op, target,
// arguments, a write's bytes), after the pin's sequence number:
//
//   request: seq (u64 LE, ≥ 1) · op (u32 LE, FS_OPS index) · target (u32 LE: 0, the pin's tree, or a handle) · fs-wire payload
//   answer:  value (f64 LE: 0, a handle, a byte count, or -(1 + FS_ERRORS index)) · payload (data, JSON, or the error's message)
//
// The home node decodes with the same strict check the parent applies to an untrusted child
// (WASI_FS.decode: argument shapes exactly, at most 1 MiB of data) and answers with its WasiFsServer.

import { type FsRequest, HOST_CALL_MAX_IO_BYTES, type RemoteAnswer, WASI_FS } from "../../runtime/index.js";
import { ServerError } from "../errors.js";
import type { PinReference } from "../store/records.js";

const CALL_HEADER_BYTES = 16;
const ANSWER_HEADER_BYTES = 8;

/** Largest call body: 1 MiB of data plus the header and arguments (two paths and a few numbers). */
export const PEER_RESOURCE_MAX_BODY_BYTES = HOST_CALL_MAX_IO_BYTES + 64 * 1024;
/** Largest answer body: 1 MiB of data plus a stat's or a listing's JSON. */
export const PEER_RESOURCE_MAX_ANSWER_BYTES = HOST_CALL_MAX_IO_BYTES + 1024 * 1024;

/** What a job elsewhere holds of a directory at its home node (travels with the job, in its WASI directories). */
export type GlobalReference = PinReference;

export interface ResourceCall {
  seq: number;
  request: FsRequest;
}

export function encodeResourceCall({ seq, request }: ResourceCall): Uint8Array {
  const { a, b, payload } = WASI_FS.encode(request);
  const body = new Uint8Array(CALL_HEADER_BYTES + payload.byteLength);
  const view = new DataView(body.buffer);
  view.setBigUint64(0, BigInt(seq), true);
  view.setUint32(8, a, true);
  view.setUint32(12, b, true);
  body.set(payload, CALL_HEADER_BYTES);
  return body;
}

/** A call from a peer, read strictly: anything that is not exactly a file-system request is 400. */
export function decodeResourceCall(body: Uint8Array): ResourceCall {
  if (body.byteLength < CALL_HEADER_BYTES) throw new ServerError("bad_request", `a resource call is at least ${CALL_HEADER_BYTES} bytes`);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const seq = view.getBigUint64(0, true);
  if (seq < 1n || seq > BigInt(Number.MAX_SAFE_INTEGER))
    throw new ServerError("bad_request", `sequence number ${seq} is not from 1 to ${Number.MAX_SAFE_INTEGER}`);
  const request = WASI_FS.decode({ a: view.getUint32(8, true), b: view.getUint32(12, true), payload: body.subarray(CALL_HEADER_BYTES) });
  if (!request)
    throw new ServerError(
      "bad_request",
      "the body is not a file-system request (unknown operation, or arguments of the wrong shape or size)",
    );
  return { seq: Number(seq), request };
}

export function encodeResourceAnswer({ value, payload }: RemoteAnswer): Uint8Array {
  const body = new Uint8Array(ANSWER_HEADER_BYTES + payload.byteLength);
  new DataView(body.buffer).setFloat64(0, value, true);
  body.set(payload, ANSWER_HEADER_BYTES);
  return body;
}

export function decodeResourceAnswer(body: Uint8Array): RemoteAnswer {
  if (body.byteLength < ANSWER_HEADER_BYTES) throw new ServerError("peer_error", "a resource answer shorter than its header");
  const value = new DataView(body.buffer, body.byteOffset, body.byteLength).getFloat64(0, true);
  if (!Number.isSafeInteger(value)) throw new ServerError("peer_error", `a resource answer's value ${value} is not an integer`);
  return { value, payload: body.subarray(ANSWER_HEADER_BYTES) };
}
