// `ferry submit`'s WASI options, turned into the `wasi` field of POST /jobs: `-- ARGS…` (argv[1..]),
// `--env NAME=VALUE`, `--dir RESOURCE[:GUEST]` and `--dir-ro RESOURCE[:GUEST]` (a directory under
// your resource root on the node, read-write or read-only; GUEST defaults to /RESOURCE), and
// `--scratch GUEST` (a private in-memory directory that lives and moves with the job). Only the
// shape is checked here; the node checks names, bounds and capabilities (400/403 naming them).
// Imports nothing of the runtime: `ferry submit` starts without loading an engine.

import type { JobWasi, JobWasiDir } from "../store/records.js";
import { UsageError } from "./usage.js";

export interface WasiFlags {
  dir?: string[];
  "dir-ro"?: string[];
  scratch?: string[];
  env?: string[];
}

/** The `wasi` field, or undefined when no WASI option and no `--` was given. */
export function wasiRequest(flags: WasiFlags, programArgs: string[] | undefined): JobWasi | undefined {
  const given = programArgs !== undefined || [flags.dir, flags["dir-ro"], flags.scratch, flags.env].some((f) => f?.length);
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
  return { args: programArgs ?? [], env, dirs };
}

/** What follows `--` on the command line (the program's argv[1..]), or undefined without `--`. */
export function afterDoubleDash(argv: readonly string[]): string[] | undefined {
  const at = argv.indexOf("--");
  return at < 0 ? undefined : argv.slice(at + 1);
}
