// The WASI part of a placement: a program's argv, environment and preopened directories, checked
// once (`invalid_option` naming the problem) and turned into the WasiConfig the host interface takes.
// Anonymous code is given in-memory trees only: a directory of this host is for code whose sender
// is known and whose embedder chose that directory for it.

import { FerryError } from "../errors.js";
import type { TrustClass } from "../exec/instance-api.js";
import type { WasiConfig } from "../host/index.js";
import type { AsyncDirectory, Directory } from "../resources/directory.js";
import { MemoryDirectory } from "../resources/memory-directory.js";
import type { WasiOptions } from "../exec/instance-api.js";

/** Bytes argv and the environment may take together (wasmtime's and Linux's ARG_MAX are larger; a job needs far less). */
export const MAX_WASI_ARGS_BYTES = 256 * 1024;
/** Preopened directories one program may be given. */
export const MAX_WASI_PREOPENS = 32;
/** Longest guest path of a preopened directory, bytes. */
export const MAX_WASI_GUEST_PATH_BYTES = 1024;

const NONE: WasiConfig = Object.freeze({ args: Object.freeze(["guest"]), env: Object.freeze([]), preopens: Object.freeze([]) });

function invalid(message: string): FerryError {
  return new FerryError("invalid_option", `\`wasi\`: ${message}`);
}

function text(what: string, value: unknown): string {
  if (typeof value !== "string") throw invalid(`${what} must be a string, got ${typeof value}`);
  if (value.includes("\0")) throw invalid(`${what} contains a NUL byte`);
  return value;
}

function checkEnv(env: unknown): string[] {
  if (env === undefined) return [];
  if (typeof env !== "object" || env === null || Array.isArray(env)) throw invalid("env must be an object of name → value strings");
  return Object.entries(env).map(([k, v]) => {
    if (k === "" || k.includes("=") || k.includes("\0"))
      throw invalid(`environment name ${JSON.stringify(k)} is empty or holds "=" or NUL`);
    return `${k}=${text(`env.${k}`, v)}`;
  });
}

function checkDirs(dirs: unknown, trust: TrustClass): WasiConfig<Directory | AsyncDirectory>["preopens"] {
  if (dirs === undefined) return [];
  if (typeof dirs !== "object" || dirs === null || Array.isArray(dirs)) throw invalid("dirs must be an object of guest path → Directory");
  const entries = Object.entries(dirs);
  if (entries.length > MAX_WASI_PREOPENS) throw invalid(`at most ${MAX_WASI_PREOPENS} directories, got ${entries.length}`);
  return entries.map(([guestPath, directory]) => {
    text("a directory's guest path", guestPath);
    if (guestPath === "" || Buffer.byteLength(guestPath) > MAX_WASI_GUEST_PATH_BYTES)
      throw invalid(`guest path ${JSON.stringify(guestPath)} must be 1 to ${MAX_WASI_GUEST_PATH_BYTES} bytes`);
    if (typeof directory !== "object" || directory === null || typeof (directory as { openFile?: unknown }).openFile !== "function")
      throw invalid(`dirs[${JSON.stringify(guestPath)}] must be a Directory (HostDirectory, MemoryDirectory)`);
    if (trust === "anonymous" && !(directory instanceof MemoryDirectory))
      throw invalid(`dirs[${JSON.stringify(guestPath)}]: anonymous code may be given in-memory directories only (MemoryDirectory)`);
    // An AsyncDirectory (its brand says so) is awaited: the guest unwinds at each call (Pausing.settle), in either sandbox.
    const d = directory as Directory | AsyncDirectory;
    return { guestPath, directory: d };
  });
}

/** What checkWasi reads: WasiOptions whose directories may also answer later (AsyncDirectory: awaited). */
export interface WasiRequest extends Omit<WasiOptions, "dirs"> {
  dirs?: Readonly<Record<string, Directory | AsyncDirectory>>;
}

export function checkWasi(options: WasiRequest | undefined, trust: TrustClass): WasiConfig<Directory | AsyncDirectory> {
  if (options === undefined) return NONE;
  if (typeof options !== "object" || options === null) throw invalid("must be an object");
  const program = text("program", options.program ?? "guest");
  if (options.args !== undefined && !Array.isArray(options.args)) throw invalid("args must be a list of strings");
  const args = [program, ...(options.args ?? []).map((a, i) => text(`args[${i}]`, a))];
  const env = checkEnv(options.env);
  const bytes = [...args, ...env].reduce((n, s) => n + Buffer.byteLength(s) + 1, 0);
  if (bytes > MAX_WASI_ARGS_BYTES) throw invalid(`arguments and environment take ${bytes} bytes, the limit is ${MAX_WASI_ARGS_BYTES}`);
  return { args, env, preopens: checkDirs(options.dirs, trust) };
}
