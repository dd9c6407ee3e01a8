// `ferry run` and `ferry resume`: drive a guest slice by slice to completion, streaming its output,
// writing a snapshot every K slices, and printing the entry's return value.

import { parseArgs } from "node:util";
import {
  DEFAULT_MAX_MEMORY_PAGES,
  Engine,
  FerryError,
  decodeSnapshot,
  encodeSnapshot,
  snapshotDecodeLimits,
  type Instance,
  SANDBOX_KINDS,
  type RunResult,
  type RunValue,
  type SandboxKind,
  type Snapshot,
  type Directory,
  HostDirectory,
  WASI_MODULE,
  type WasiOptions,
} from "../../runtime/index.js";
import { createHash } from "node:crypto";
import { writeFileAtomic } from "../../runtime/light.js";
import { checkEntryArgs } from "../entry-args.js";
import { CACHE_OPTIONS, cacheOption } from "./cache.js";
import { argsOption, optionalInt, readInput, type Io } from "./options.js";
import { checkWritableFile } from "./paths.js";
import { HELP, UsageError } from "./usage.js";

// Shared option helpers live in options.ts (commands that never run a guest import them without the runtime).
export { argsOption, optionalInt, readInput, type Io } from "./options.js";

const DEFAULT_CHECKPOINT_SLICE = 1_000_000;

export async function runCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      entry: { type: "string" },
      args: { type: "string", multiple: true },
      input: { type: "string" },
      dir: { type: "string", multiple: true },
      "dir-ro": { type: "string", multiple: true },
      env: { type: "string", multiple: true },
      fuel: { type: "string" },
      slice: { type: "string" },
      "checkpoint-every": { type: "string" },
      out: { type: "string" },
      "max-memory-pages": { type: "string" },
      sandbox: { type: "string", default: "in-process" },
      "timeout-ms": { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      ...CACHE_OPTIONS,
    },
  });
  if (values.help) return help(io, HELP.run);
  if (positionals.length === 0) throw new UsageError("ferry run takes a <guest.wasm>");
  const sandbox = sandboxOption(values.sandbox);
  const timeoutMs = optionalInt("--timeout-ms", values["timeout-ms"]);
  const checkpoint = checkpointOptions(values["checkpoint-every"], values.out);
  const slice = optionalInt("--slice", values.slice) ?? (checkpoint ? DEFAULT_CHECKPOINT_SLICE : undefined);
  const fuelLimit = optionalInt("--fuel", values.fuel);
  const argValues = argsOption(values.args);
  const maxMemoryPages = optionalInt("--max-memory-pages", values["max-memory-pages"]);

  const code = readInput(positionals[0]!, "guest module");
  // Checked before compiling: a bad --dir or --env is refused before anything is written to the cache.
  const wasi = wasiOptions(positionals, values);
  const input = values.input === undefined ? undefined : readInput(values.input, "input");
  await using engine = new Engine({ ...(maxMemoryPages === undefined ? {} : { maxMemoryPages }), ...cacheOption(values) });
  const module = await engine.compile(code);
  const wasiProgram = module.importModules.has(WASI_MODULE);
  if (positionals.length > 1 && !wasiProgram)
    throw new UsageError("program arguments (after the module) are for WASI programs; a Ferry guest takes --args");
  const entry = module.entry(values.entry ?? (wasiProgram && module.entries.some((e) => e.name === "_start") ? "_start" : "main"));
  const args = checkEntryArgs(entry, argValues);
  const instance = await engine.instantiate(module, {
    input,
    sandbox,
    timeoutMs,
    // Directories of this machine are for code its user vouches for: naming one with --dir does that.
    trust: Object.keys(wasi.dirs ?? {}).length > 0 ? "authenticated" : "anonymous",
    wasi,
    onLog: (line) => io.stderr.write(wasiProgram ? `${line}\n` : `[guest] ${line}\n`),
  });
  const first = await instance.run(entry.name, args, { fuel: slice, fuelLimit });
  return finish(await drive(instance, first, { slice, checkpoint, code, json: values.json, io, printedOutput: 0 }), values.json, io);
}

/** argv (the module's name, then what follows it), --env and --dir/--dir-ro as the program sees them. */
function wasiOptions(positionals: string[], values: { dir?: string[]; "dir-ro"?: string[]; env?: string[] }): WasiOptions {
  const env: Record<string, string> = {};
  for (const pair of values.env ?? []) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new UsageError(`--env ${pair}: write NAME=VALUE`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const dirs: Record<string, Directory> = {};
  const add = (spec: string, readOnly: boolean) => {
    const flag = readOnly ? "--dir-ro" : "--dir";
    const at = spec.lastIndexOf(":");
    const host = at > 0 ? spec.slice(0, at) : spec;
    const guest = at > 0 ? spec.slice(at + 1) : spec;
    if (host === "" || guest === "") throw new UsageError(`${flag} ${spec}: write HOST or HOST:GUEST`);
    if (Object.hasOwn(dirs, guest)) throw new UsageError(`${flag} ${spec}: ${guest} is given twice`);
    try {
      dirs[guest] = new HostDirectory(host, { readOnly });
    } catch (e) {
      // A directory named on the command line that cannot be used is a usage error (status 2), named by its option.
      if (e instanceof FerryError && e.code === "invalid_option") throw new UsageError(`${flag} ${spec}: ${e.detail ?? e.message}`);
      throw e;
    }
  };
  for (const spec of values.dir ?? []) add(spec, false);
  for (const spec of values["dir-ro"] ?? []) add(spec, true);
  return { program: positionals[0]!.split("/").pop()!, args: positionals.slice(1), env, dirs };
}

function sandboxOption(value: string | undefined): SandboxKind {
  const kind = value ?? "in-process";
  if (!(SANDBOX_KINDS as readonly string[]).includes(kind)) {
    throw new UsageError(`--sandbox ${kind}: choose ${SANDBOX_KINDS.join(" or ")}`);
  }
  return kind as SandboxKind;
}

export async function resumeCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      module: { type: "string" },
      dir: { type: "string", multiple: true },
      "dir-ro": { type: "string", multiple: true },
      slice: { type: "string" },
      "checkpoint-every": { type: "string" },
      out: { type: "string" },
      sandbox: { type: "string", default: "in-process" },
      "timeout-ms": { type: "string" },
      "max-memory-pages": { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      ...CACHE_OPTIONS,
    },
  });
  if (values.help) return help(io, HELP.resume);
  const sandbox = sandboxOption(values.sandbox);
  const timeoutMs = optionalInt("--timeout-ms", values["timeout-ms"]);
  if (positionals.length !== 1) throw new UsageError("ferry resume takes exactly one <snap.ferry>");
  const checkpoint = checkpointOptions(values["checkpoint-every"], values.out);
  const slice = optionalInt("--slice", values.slice) ?? (checkpoint ? DEFAULT_CHECKPOINT_SLICE : undefined);

  const maxMemoryPages = optionalInt("--max-memory-pages", values["max-memory-pages"]) ?? DEFAULT_MAX_MEMORY_PAGES;

  // The caps a node restoring it would use: nothing the engine could not hold is ever inflated.
  const snapshot = decodeSnapshot(readInput(positionals[0]!, "snapshot"), snapshotDecodeLimits(maxMemoryPages));
  const code = values.module !== undefined ? readInput(values.module, "guest module") : snapshot.code;
  if (!code)
    throw new FerryError(
      "unknown_module",
      `${snapshot.codeHash}: the snapshot does not embed its module; pass --module FILE with the module it was taken from`,
    );
  // A module given must be the snapshot's own, embedded or not: never silently ignored or mixed up.
  if (values.module !== undefined && sha256Hex(code) !== snapshot.codeHash) {
    throw new FerryError(
      "unknown_module",
      `--module ${values.module} is not this snapshot's module: its code hash is ${sha256Hex(code)}, the snapshot was taken from ${snapshot.codeHash}${snapshot.code ? " (and embeds it: leave out --module)" : ""}`,
    );
  }
  await using engine = new Engine({ maxMemoryPages, ...cacheOption(values) });
  await engine.compile(code);
  // A WASI program's descriptors name the directories it had: they are given again, by the same guest paths.
  const { dirs } = wasiOptions(["guest"], values);
  const instance = await engine.restore(snapshot, {
    sandbox,
    timeoutMs,
    trust: Object.keys(dirs ?? {}).length > 0 ? "authenticated" : "anonymous",
    wasi: { dirs },
    onLog: (line) => io.stderr.write(`[guest] ${line}\n`),
  });
  const printedOutput = instance.output().byteLength; // printed by whoever ran the part before the snapshot
  const first = await instance.resume({ fuel: slice });
  return finish(await drive(instance, first, { slice, checkpoint, code, json: values.json, io, printedOutput }), values.json, io);
}

interface DriveOptions {
  slice: number | undefined;
  checkpoint: { every: number; out: string } | undefined;
  code: Uint8Array;
  json: boolean;
  io: Io;
  printedOutput: number;
}

interface Driven {
  result: RunResult;
  pauses: number;
  checkpoints: number;
  output: Uint8Array;
}

async function drive(instance: Instance, first: RunResult, o: DriveOptions): Promise<Driven> {
  let result = first;
  let pauses = 0;
  let checkpoints = 0;
  let printed = o.printedOutput;
  // Each checkpoint, once written, lends its memory buffers to the next (no fresh pages to fault in).
  let previous: Snapshot | undefined;
  const flush = (): void => {
    const output = instance.output();
    if (!o.json && output.byteLength > printed) o.io.stdout.write(output.subarray(printed));
    printed = output.byteLength;
  };
  while (result.status === "paused") {
    pauses++;
    flush();
    // A WASI program asleep: wait out its time here, holding nothing but this process.
    const sleepMs = result.reason === "sleep" ? (result.sleepMs ?? 0) : 0;
    if (sleepMs > 0) await new Promise((resolve) => setTimeout(resolve, sleepMs));
    if (o.checkpoint && pauses % o.checkpoint.every === 0) {
      previous = await instance.snapshot(previous ? { recycle: previous } : {});
      writeFileAtomic(o.checkpoint.out, encodeSnapshot({ ...previous, code: o.code }));
      checkpoints++;
    }
    result = await instance.resume({ fuel: o.slice });
  }
  flush();
  return { result, pauses, checkpoints, output: instance.output().subarray(o.printedOutput) };
}

function finish(d: Driven, json: boolean, io: Io): number {
  const r = d.result;
  if (json) {
    const base = {
      status: r.status,
      fuelUsed: r.fuelUsed,
      pauses: d.pauses,
      checkpoints: d.checkpoints,
      output: Buffer.from(d.output).toString("base64"),
    };
    const extra =
      r.status === "done"
        ? { value: jsonValue(r.value), ...(r.exitCode === undefined ? {} : { exitCode: r.exitCode }) }
        : r.status === "trapped"
          ? { code: r.code, message: r.message }
          : {};
    io.stdout.write(`${JSON.stringify({ ...base, ...extra })}\n`);
  } else if (r.status === "done") {
    const text = formatValue(r.value);
    if (text !== "") io.stdout.write(`${d.output.byteLength && d.output[d.output.byteLength - 1] !== 10 ? "\n" : ""}${text}\n`);
  } else if (r.status === "trapped") {
    io.stderr.write(`trapped: ${r.code}: ${r.message} (fuel used ${r.fuelUsed})\n`);
  }
  // A WASI program's exit code is ferry's, as a process's status holds it (its low 8 bits).
  if (r.status === "done") return (r.exitCode ?? 0) & 0xff;
  return 1;
}

export function formatValue(v: RunValue): string {
  if (v === null) return "";
  if (Array.isArray(v)) return v.map((x) => formatValue(x)).join(" ");
  if (typeof v === "number" && Object.is(v, -0)) return "-0";
  return String(v);
}

function jsonValue(v: RunValue): unknown {
  if (Array.isArray(v)) return v.map(jsonValue);
  return typeof v === "bigint" ? v.toString() : v;
}

function checkpointOptions(every: string | undefined, out: string | undefined): { every: number; out: string } | undefined {
  if (every === undefined && out === undefined) return undefined;
  if (every === undefined) throw new UsageError("--out needs --checkpoint-every K");
  if (out === undefined) throw new UsageError("--checkpoint-every needs --out FILE");
  const checkpoint = { every: optionalInt("--checkpoint-every", every)!, out };
  checkWritableFile("--out", out); // now, not after the first K slices (or never, in a short run)
  return checkpoint;
}

function help(io: Io, text: string): number {
  io.stdout.write(`${text}\n`);
  return 0;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
