// A WASI job's configuration as a client asks for it (POST /jobs `wasi`) and as a peer ships it (the
// transfer header): read field by field, every refusal a `bad_request` naming the field. argv and
// the environment are checked by the runtime's own rules (its WASI placement: bytes, NUL, names),
// the directories here: at most MAX_WASI_PREOPENS, guest paths as the runtime bounds them, each a
// `resource` (a directory under the owner's resource root, by a name a capability can grant) or a
// `scratch` tree. Who may bind which directory is the node's decision (server/node/wasi-dirs.ts).

import {
  ATTACHMENTS,
  BINDING_KINDS,
  chooseAction,
  FerryError,
  MIGRATION_ACTIONS,
  type MigrationAction,
  MAX_WASI_GUEST_PATH_BYTES,
  MAX_WASI_PREOPENS,
  MemoryDirectory,
  normalizePlacement,
  normalizeTreePath,
} from "../runtime/index.js";
import { ServerError } from "./errors.js";
import type { JobResourceDir, JobWasi, JobWasiDir, PinReference } from "./store/records.js";

/** Who a WASI configuration comes from: a client (POST /jobs) never names a pin; a peer's transfer may. */
export interface WasiSource {
  /** Accept `home` (a global reference) on resource directories: only in a transfer header. */
  references?: boolean;
}

/** A resource directory's name: what a capability can name (capabilities.ts), at most 200 bytes. */
const RESOURCE_NAME = /^[A-Za-z0-9._\-/]{1,200}$/;

function bad(where: string, detail: string): never {
  throw new ServerError("bad_request", `${where}: ${detail}`);
}

/** `value` (untrusted JSON) as a JobWasi, or a bad_request naming what is wrong; `where` names the field ("wasi"). */
export function parseJobWasi(value: unknown, where = "wasi", from: WasiSource = {}): JobWasi {
  if (typeof value !== "object" || value === null || Array.isArray(value)) bad(where, "must be an object { args?, env?, dirs? }");
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!["args", "env", "dirs"].includes(key)) bad(where, `unknown field "${key}"`);
  const args = o.args ?? [];
  const env = o.env ?? {};
  if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) bad(`${where}.args`, "must be a list of strings");
  if (typeof env !== "object" || env === null || Array.isArray(env)) bad(`${where}.env`, "must be an object of name → value strings");
  for (const [k, v] of Object.entries(env)) if (typeof v !== "string") bad(`${where}.env.${k}`, "must be a string");
  const dirs = parseDirs(o.dirs ?? [], `${where}.dirs`, from);
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

function parseDirs(value: unknown, where: string, from: WasiSource): JobWasiDir[] {
  if (!Array.isArray(value)) bad(where, "must be a list of { guest, resource, access } or { guest, scratch: true }");
  if (value.length > MAX_WASI_PREOPENS) bad(where, `at most ${MAX_WASI_PREOPENS} directories, got ${value.length}`);
  const seen = new Set<string>();
  return value.map((d, i) => {
    const at = `${where}[${i}]`;
    const dir = parseDir(d, at, from);
    if (seen.has(dir.guest)) bad(at, `guest path ${JSON.stringify(dir.guest)} is given twice`);
    seen.add(dir.guest);
    return dir;
  });
}

function parseDir(d: unknown, at: string, from: WasiSource): JobWasiDir {
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
  const fields = ["guest", "resource", "access", "binding", "attachment", "migrate", ...(from.references ? ["home"] : [])];
  for (const key of Object.keys(o))
    if (!fields.includes(key))
      bad(at, key === "home" ? "a global reference (home) is made by migration, never asked for" : `unknown field "${key}"`);
  const resource = checkResourceName(o.resource, `${at}.resource`);
  const access = o.access;
  if (access !== "r" && access !== "rw") bad(`${at}.access`, 'must be "r" (read-only) or "rw"');
  const dir: JobResourceDir = { guest, resource, access, ...parseMigration(o, at) };
  if (o.home !== undefined) dir.home = parseReference(o.home, `${at}.home`, access);
  return dir;
}

/** A resource directory's binding, attachment and asked-for action, checked against the table (bindings.ts). */
function parseMigration(o: Record<string, unknown>, at: string): Pick<JobResourceDir, "binding" | "attachment" | "migrate"> {
  const out: Pick<JobResourceDir, "binding" | "attachment" | "migrate"> = {};
  const pick = <T extends string>(key: string, choices: readonly T[]): T | undefined => {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !(choices as readonly string[]).includes(v))
      bad(`${at}.${key}`, `must be one of ${choices.map((c) => `"${c}"`).join(", ")}`);
    return v as T;
  };
  const binding = pick("binding", BINDING_KINDS);
  const attachment = pick("attachment", ATTACHMENTS);
  const migrate = pick("migrate", MIGRATION_ACTIONS);
  if (binding) out.binding = binding;
  if (attachment) out.attachment = attachment;
  if (migrate) out.migrate = migrate;
  try {
    chooseAction(binding ?? "identifier", attachment ?? "fastened", migrate);
  } catch (e) {
    if (e instanceof FerryError) bad(at, e.message);
    throw e;
  }
  return out;
}

/** A global reference as a peer's transfer names it: a node id, a pin id, the directory's own access. */
function parseReference(value: unknown, at: string, access: "r" | "rw"): PinReference {
  if (typeof value !== "object" || value === null || Array.isArray(value)) bad(at, "must be an object { home, pin, access }");
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!["home", "pin", "access"].includes(key)) bad(at, `unknown field "${key}"`);
  if (typeof o.home !== "string" || !/^(?!\.\.?$)[A-Za-z0-9._-]{1,64}$/.test(o.home)) bad(`${at}.home`, "must be a node id");
  if (typeof o.pin !== "string" || !/^[A-Za-z0-9_-]{16,64}$/.test(o.pin)) bad(`${at}.pin`, "must be a pin id");
  if (o.access !== access) bad(`${at}.access`, `must be the directory's own access "${access}"`);
  return { home: o.home, pin: o.pin, access };
}

/** What a migration does with resource directory `d`: the table's default for its binding and attachment, or what it asked. */
export function dirAction(d: JobResourceDir): MigrationAction {
  return chooseAction(d.binding ?? "identifier", d.attachment ?? "fastened", d.migrate);
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
export function resourceDirs(wasi: JobWasi | null): JobResourceDir[] {
  return (wasi?.dirs ?? []).filter((d): d is JobResourceDir => "resource" in d);
}

/** The resource directories that travel when the job migrates (moved or copied), not those reached from here by reference. */
export function travellingDirs(wasi: JobWasi | null): JobResourceDir[] {
  return resourceDirs(wasi).filter((d) => d.home === undefined && (dirAction(d) === "move" || dirAction(d) === "copy"));
}
