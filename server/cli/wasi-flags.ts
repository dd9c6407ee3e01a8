// `ferry submit`'s WASI options, turned into the `wasi` field of POST /jobs: `-- ARGS…` (argv[1..]),
// `--env NAME=VALUE`, `--dir RESOURCE[:GUEST]` and `--dir-ro RESOURCE[:GUEST]` (a directory under
// your resource root on the node, read-write or read-only; GUEST defaults to /RESOURCE), and
// `--scratch GUEST` (a private in-memory directory that lives and moves with the job), and
// `--dir-migrate GUEST=ACTION` (what a migration does with that resource directory: the binding
// that allows the action is asked for with it — copy is by value, rebind by type). Only the shape
// is checked here; the node checks names, bounds, the binding table and capabilities (400/403).
// Imports nothing of the runtime: `ferry submit` starts without loading an engine.

import type { JobWasi, JobWasiDir } from "../store/records.js";
import { UsageError } from "./usage.js";

export interface WasiFlags {
  dir?: string[];
  "dir-ro"?: string[];
  "dir-migrate"?: string[];
  scratch?: string[];
  env?: string[];
}

/** The `wasi` field, or undefined when no WASI option and no `--` was given. */
export function wasiRequest(flags: WasiFlags, programArgs: string[] | undefined): JobWasi | undefined {
  const given =
    programArgs !== undefined || [flags.dir, flags["dir-ro"], flags["dir-migrate"], flags.scratch, flags.env].some((f) => f?.length);
  if (!given) return undefined;
  const env: Record<string, string> = {};
  for (const pair of flags.env ?? []) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new UsageError(`--env ${pair}: write NAME=VALUE`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const dirs: JobWasiDir[] = [];
  const guests = new Set<string>();
  const add = (flag: string, spec: string, dir: JobWasiDir): void => {
    if (dir.guest === "" || guests.has(dir.guest))
      throw new UsageError(`${flag} ${spec}: guest path "${dir.guest}" is empty or given twice`);
    guests.add(dir.guest);
    dirs.push(dir);
  };
  const resource = (flag: string, spec: string, access: "r" | "rw"): void => {
    const at = spec.indexOf(":");
    const name = at >= 0 ? spec.slice(0, at) : spec;
    if (name === "") throw new UsageError(`${flag} ${spec}: write RESOURCE or RESOURCE:GUEST`);
    add(flag, spec, { guest: at >= 0 ? spec.slice(at + 1) : `/${name}`, resource: name, access });
  };
  for (const spec of flags.dir ?? []) resource("--dir", spec, "rw");
  for (const spec of flags["dir-ro"] ?? []) resource("--dir-ro", spec, "r");
  for (const guest of flags.scratch ?? []) add("--scratch", guest, { guest, scratch: true });
  for (const spec of flags["dir-migrate"] ?? []) askMigration(spec, dirs);
  return { args: programArgs ?? [], env, dirs };
}

/** The binding each action is asked with: the one the binding table allows it for (a fastened directory). */
const BINDING_FOR = { "global-reference": "identifier", move: "identifier", copy: "value", rebind: "type" } as const;

/** `--dir-migrate GUEST=ACTION` on the resource directory seen as GUEST. */
function askMigration(spec: string, dirs: JobWasiDir[]): void {
  const at = spec.lastIndexOf("=");
  const guest = spec.slice(0, at);
  const action = spec.slice(at + 1);
  if (at <= 0 || !Object.hasOwn(BINDING_FOR, action))
    throw new UsageError(`--dir-migrate ${spec}: write GUEST=ACTION, ACTION one of ${Object.keys(BINDING_FOR).join(", ")}`);
  const dir = dirs.find((d) => d.guest === guest);
  if (!dir || !("resource" in dir)) throw new UsageError(`--dir-migrate ${spec}: no --dir or --dir-ro is seen as "${guest}"`);
  if (dir.migrate !== undefined) throw new UsageError(`--dir-migrate ${spec}: "${guest}" is given twice`);
  dir.migrate = action as keyof typeof BINDING_FOR;
  dir.binding = BINDING_FOR[dir.migrate];
}

/** What follows `--` on the command line (the program's argv[1..]), or undefined without `--`. */
export function afterDoubleDash(argv: readonly string[]): string[] | undefined {
  const at = argv.indexOf("--");
  return at < 0 ? undefined : argv.slice(at + 1);
}
