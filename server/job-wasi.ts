// A WASI job's configuration as a client asks for it (POST /jobs `wasi`) and as a peer ships it (the
// transfer header): read field by field, every refusal a `bad_request` naming the field. argv and
// the environment are checked by the runtime's own rules (its WASI placement: bytes, NUL, names),
// the directories here: at most MAX_WASI_PREOPENS, guest paths as the runtime bounds them, each a
// `resource` (a directory under the owner's resource root, by a name a capability can grant) or a
// `scratch` tree. Who may bind which directory is the node's decision (server/node/wasi-dirs.ts).

import {
  FerryError,
  MAX_WASI_GUEST_PATH_BYTES,
  MAX_WASI_PREOPENS,
  MemoryDirectory,
  normalizePlacement,
  normalizeTreePath,
} from "../runtime/index.js";
import { ServerError } from "./errors.js";
import type { JobWasi, JobWasiDir } from "./store/records.js";

/** A resource directory's name: what a capability can name (capabilities.ts), at most 200 bytes. */
const RESOURCE_NAME = /^[A-Za-z0-9._\-/]{1,200}$/;

function bad(where: string, detail: string): never {
  throw new ServerError("bad_request", `${where}: ${detail}`);
}

/** `value` (untrusted JSON) as a JobWasi, or a bad_request naming what is wrong; `where` names the field ("wasi"). */
export function parseJobWasi(value: unknown, where = "wasi"): JobWasi {
  if (typeof value !== "object" || value === null || Array.isArray(value)) bad(where, "must be an object { args?, env?, dirs? }");
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!["args", "env", "dirs"].includes(key)) bad(where, `unknown field "${key}"`);
  const args = o.args ?? [];
  const env = o.env ?? {};
  if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) bad(`${where}.args`, "must be a list of strings");
  if (typeof env !== "object" || env === null || Array.isArray(env)) bad(`${where}.env`, "must be an object of name → value strings");
  for (const [k, v] of Object.entries(env)) if (typeof v !== "string") bad(`${where}.env.${k}`, "must be a string");
  const dirs = parseDirs(o.dirs ?? [], `${where}.dirs`);
  // argv and the environment by the runtime's own rules (no copy of its limits here); its directory
  // rules too, with a stand-in tree per guest path.
  const stand = Object.fromEntries(dirs.map((d) => [d.guest, new MemoryDirectory()]));
  try {
    normalizePlacement({ sandbox: "in-process", wasi: { args: args as string[], env: env as Record<string, string>, dirs: stand } });
  } catch (e) {
    if (e instanceof FerryError) bad(where, e.message.replace(/^`wasi`: /, ""));
    throw e;
  }
  return { args: [...(args as string[])], env: { ...(env as Record<string, string>) }, dirs };
}

function parseDirs(value: unknown, where: string): JobWasiDir[] {
  if (!Array.isArray(value)) bad(where, "must be a list of { guest, resource, access } or { guest, scratch: true }");
  if (value.length > MAX_WASI_PREOPENS) bad(where, `at most ${MAX_WASI_PREOPENS} directories, got ${value.length}`);
  const seen = new Set<string>();
  return value.map((d, i) => {
    const at = `${where}[${i}]`;
    const dir = parseDir(d, at);
    if (seen.has(dir.guest)) bad(at, `guest path ${JSON.stringify(dir.guest)} is given twice`);
    seen.add(dir.guest);
    return dir;
  });
}

function parseDir(d: unknown, at: string): JobWasiDir {
  if (typeof d !== "object" || d === null || Array.isArray(d)) bad(at, "must be an object");
  const o = d as Record<string, unknown>;
  const guest = o.guest;
  if (typeof guest !== "string" || guest === "" || guest.includes("\0") || Buffer.byteLength(guest) > MAX_WASI_GUEST_PATH_BYTES)
    bad(`${at}.guest`, `must be a path of 1 to ${MAX_WASI_GUEST_PATH_BYTES} bytes without NUL`);
  if ("scratch" in o) {
    for (const key of Object.keys(o)) if (key !== "guest" && key !== "scratch") bad(at, `a scratch directory has no field "${key}"`);
    if (o.scratch !== true) bad(`${at}.scratch`, "must be true");
    return { guest, scratch: true };
  }
  for (const key of Object.keys(o)) if (!["guest", "resource", "access"].includes(key)) bad(at, `unknown field "${key}"`);
  const resource = checkResourceName(o.resource, `${at}.resource`);
  const access = o.access;
  if (access !== "r" && access !== "rw") bad(`${at}.access`, 'must be "r" (read-only) or "rw"');
  return { guest, resource, access };
}

/**
 * A directory under the client's resource root, by a relative, normalized name (no "", ".", "..",
 * leading or trailing "/", NUL) made of what a capability can name.
 */
function checkResourceName(value: unknown, at: string): string {
  if (typeof value !== "string") return bad(at, "must be a string naming a directory under your resource root");
  if (value.includes("\0")) bad(at, "contains a NUL byte");
  if (value.startsWith("/")) bad(at, `${JSON.stringify(value)} is absolute; name a directory under your resource root`);
  if (value.split("/").includes("..")) bad(at, `${JSON.stringify(value)} climbs out of your resource root ("..")`);
  if (!RESOURCE_NAME.test(value)) bad(at, "must be 1 to 200 of letters, digits, . _ - /");
  let normal: string;
  try {
    normal = normalizeTreePath("", value);
  } catch (e) {
    return bad(at, (e as Error).message);
  }
  if (normal !== value || normal === "") bad(at, `${JSON.stringify(value)} is not a normalized path (no "." or empty segments)`);
  return value;
}

/** The directories that bind the owner's files (not scratch ones). */
export function resourceDirs(wasi: JobWasi | null): Array<Extract<JobWasiDir, { resource: string }>> {
  return (wasi?.dirs ?? []).filter((d): d is Extract<JobWasiDir, { resource: string }> => "resource" in d);
}
