// POST /jobs bodies, checked field by field so a bad one is a 400 naming the field.

import type { SandboxKind } from "../../runtime/index.js";
import { DEFAULT_MAX_INPUT_BYTES } from "../../runtime/index.js";
import { MAX_ENTRY_ARGS } from "../../runtime/light.js";
import { ServerError } from "../errors.js";
import { parseJobWasi } from "../job-wasi.js";
import type { StartJobRequest } from "../node/ferry-node.js";
import type { Json } from "../store/records.js";

const HASH = /^[0-9a-f]{64}$/;
const ENTRY = /^[^\s]{1,256}$/;

export interface JobRequest extends StartJobRequest {
  /** Wait up to this many ms for the job to settle before answering (default 0: answer at once). */
  waitMs: number;
}

export const MAX_WAIT_MS = 60_000;

export function parseJobRequest(body: Record<string, unknown>): JobRequest {
  const bad = (detail: string): never => {
    throw new ServerError("bad_request", detail);
  };
  const known = new Set(["codeHash", "entry", "args", "input", "fuelLimit", "sandbox", "waitMs", "wasi"]);
  for (const key of Object.keys(body)) if (!known.has(key)) bad(`unknown field "${key}"`);
  const { codeHash, entry, args, input, fuelLimit, sandbox, waitMs } = body;
  const wasi = body.wasi === undefined ? undefined : parseJobWasi(body.wasi);
  if (typeof codeHash !== "string" || !HASH.test(codeHash)) bad("codeHash must be 64 lowercase hex digits");
  if (entry !== undefined && (typeof entry !== "string" || !ENTRY.test(entry))) bad("entry must be an export name");
  if (
    args !== undefined &&
    (!Array.isArray(args) ||
      args.length > MAX_ENTRY_ARGS ||
      !args.every((a) => typeof a === "number" || (typeof a === "string" && /^-?\d+$/.test(a))))
  ) {
    bad(`args must be an array of at most ${MAX_ENTRY_ARGS} numbers (i64 as decimal strings)`);
  }
  let inputBytes: Uint8Array | undefined;
  if (input !== undefined) {
    if (typeof input !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(input)) bad("input must be base64");
    inputBytes = Buffer.from(input as string, "base64");
    if (inputBytes.byteLength > DEFAULT_MAX_INPUT_BYTES) bad(`input is over ${DEFAULT_MAX_INPUT_BYTES} bytes`);
  }
  if (fuelLimit !== undefined && (typeof fuelLimit !== "number" || !Number.isSafeInteger(fuelLimit) || fuelLimit < 1))
    bad(`fuelLimit must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}`);
  if (sandbox !== undefined && sandbox !== "in-process" && sandbox !== "isolated") bad('sandbox must be "in-process" or "isolated"');
  if (waitMs !== undefined && (typeof waitMs !== "number" || !Number.isFinite(waitMs) || waitMs < 0 || waitMs > MAX_WAIT_MS))
    bad(`waitMs must be from 0 to ${MAX_WAIT_MS}`);
  return {
    codeHash: codeHash as string,
    ...(entry === undefined ? {} : { entry: entry as string }),
    args: (args as Json[] | undefined) ?? [],
    ...(inputBytes ? { input: inputBytes } : {}),
    ...(fuelLimit === undefined ? {} : { fuelLimit: fuelLimit as number }),
    ...(sandbox === undefined ? {} : { sandbox: sandbox as SandboxKind }),
    waitMs: (waitMs as number | undefined) ?? 0,
    ...(wasi ? { wasi } : {}),
  };
}
