// How a WASI program's file-system work crosses from an isolated child to the parent, which holds
// the directories (the child is locked down and may not touch files). One remote call, "wasi-fs":
// `a` is the operation, `b` the tree (directory operations) or the parent's handle number (file
// operations), the payload a JSON list of arguments followed by raw bytes (a write's data). The
// answer's value is 0, a handle number, a byte count, or -(1 + the error's index) for an FsError.

import { type EntryStat, FsError, type FsErrorName } from "../../resources/directory.js";
import { HOST_CALL_MAX_IO_BYTES, type RemoteAnswer, type RemoteCall } from "../interface.js";

export const FS_OPS = [
  "stat",
  "list",
  "mkdir",
  "rmdir",
  "unlink",
  "rename",
  "readlink",
  "setTimes",
  "openFile",
  "fileRead",
  "fileWrite",
  "fileStat",
  "fileSetSize",
  "fileSetTimes",
  "fileSync",
  "fileClose",
] as const;
export type FsOp = (typeof FS_OPS)[number];

/** The error names in answer order (an answer -(1 + i) is FS_ERRORS[i]). */
export const FS_ERRORS: readonly FsErrorName[] = [
  "EACCES",
  "EBADF",
  "EEXIST",
  "EFBIG",
  "EINVAL",
  "EIO",
  "EISDIR",
  "ELOOP",
  "EMFILE",
  "ENAMETOOLONG",
  "ENOENT",
  "ENOSPC",
  "ENOTDIR",
  "ENOTEMPTY",
  "ENOTCAPABLE",
  "EPERM",
  "EROFS",
  "EXDEV",
];

/**
 * Each operation's arguments: s a string, n a whole number ≥ 0, b a boolean, t a time (null or
 * nanoseconds in decimal). The parent's decode holds an untrusted child to them exactly.
 */
const SHAPES: Readonly<Record<FsOp, string>> = {
  stat: "s",
  list: "s",
  mkdir: "s",
  rmdir: "s",
  unlink: "s",
  rename: "ss",
  readlink: "s",
  setTimes: "stt",
  openFile: "sbbbb",
  fileRead: "nn",
  fileWrite: "n",
  fileStat: "",
  fileSetSize: "n",
  fileSetTimes: "tt",
  fileSync: "",
  fileClose: "",
};

function fits(shape: string, args: unknown[]): boolean {
  if (args.length !== shape.length) return false;
  return args.every((v, i) => {
    switch (shape[i]) {
      case "s":
        return typeof v === "string";
      case "n":
        return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
      case "b":
        return typeof v === "boolean";
      default:
        return v === null || (typeof v === "string" && /^\d{1,20}$/.test(v));
    }
  });
}

export interface FsRequest {
  op: FsOp;
  target: number;
  /** Strings, numbers, booleans and null; bigints travel as decimal strings. */
  args: unknown[];
  bytes: Uint8Array;
}

/** Longest JSON argument list a request may carry (two paths and a few numbers). */
const MAX_ARGS_BYTES = 16 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export const WASI_FS: RemoteCall<FsRequest> = {
  name: "wasi-fs",
  encode: ({ op, target, args, bytes }) => {
    const json = encoder.encode(JSON.stringify(args));
    const payload = new Uint8Array(4 + json.byteLength + bytes.byteLength);
    new DataView(payload.buffer).setUint32(0, json.byteLength, true);
    payload.set(json, 4);
    payload.set(bytes, 4 + json.byteLength);
    return { a: FS_OPS.indexOf(op), b: target, payload };
  },
  decode: ({ a, b, payload }) => {
    const op = FS_OPS[a];
    if (op === undefined || payload.byteLength < 4) return undefined;
    const length = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true);
    if (length > MAX_ARGS_BYTES || 4 + length > payload.byteLength) return undefined;
    const bytes = payload.subarray(4 + length);
    if (bytes.byteLength > HOST_CALL_MAX_IO_BYTES || (bytes.byteLength > 0 && op !== "fileWrite")) return undefined;
    let args: unknown;
    try {
      args = JSON.parse(decoder.decode(payload.subarray(4, 4 + length)));
    } catch {
      return undefined;
    }
    return Array.isArray(args) && fits(SHAPES[op], args) ? { op, target: b, args, bytes } : undefined;
  },
};

/** JSON with bigints as decimal strings (stats carry inode numbers and nanosecond times). */
export function toJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
}

export function fromJson(bytes: Uint8Array): unknown {
  return JSON.parse(decoder.decode(bytes));
}

/** An FsError as an answer: -(1 + its index), its message the payload. */
export function fsErrorAnswer(e: FsError): RemoteAnswer {
  return { value: -1 - FS_ERRORS.indexOf(e.errno), payload: encoder.encode(e.message) };
}

/** The FsError an answer carries (a negative value), or undefined for a success. */
export function answerError(answer: { value: number; payload: Uint8Array }): FsError | undefined {
  if (answer.value >= 0) return undefined;
  const errno = FS_ERRORS[-1 - answer.value] ?? "EIO";
  // The payload is the FsError's message, which starts with its name: FsError adds it back.
  const text = new TextDecoder().decode(answer.payload);
  return new FsError(errno, text.startsWith(`${errno}: `) ? text.slice(errno.length + 2) : text);
}

/** A stat as an answer's payload carries it (toJson: bigints as decimal strings). */
export function statFromWire(payload: Uint8Array): EntryStat {
  const s = fromJson(payload) as Record<string, string | number>;
  return {
    type: s.type as EntryStat["type"],
    size: Number(s.size),
    ino: BigInt(s.ino!),
    nlink: Number(s.nlink),
    atimeNs: BigInt(s.atimeNs!),
    mtimeNs: BigInt(s.mtimeNs!),
    ctimeNs: BigInt(s.ctimeNs!),
  };
}

/** A time argument (setTimes): nanoseconds in decimal, or null for "leave it". */
export const timeToWire = (t: bigint | undefined): string | null => (t === undefined ? null : t.toString());
