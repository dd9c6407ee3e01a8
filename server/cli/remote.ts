// Commands that talk to a running node over HTTP, signing with a key file when given one:
// `ferry upload`, `ferry modules`, `ferry submit`, `ferry status`, `ferry migrate`.

import { closeSync, openSync, statSync, writeSync } from "node:fs";
import { parseArgs } from "node:util";
import { readKeyFile } from "../auth/index.js";
import { FerryClient } from "../client.js";
import type { JobView } from "../node/job-view.js";
import { EXIT } from "./exit-status.js";
import { checkWritableFile } from "./paths.js";
import { argsOption, optionalInt, readInput, type Io } from "./options.js";
import { HELP, UsageError } from "./usage.js";

const DEFAULT_NODE = "http://127.0.0.1:8080";

const common = {
  node: { type: "string" as const, default: process.env.FERRY_NODE ?? DEFAULT_NODE },
  key: { type: "string" as const },
  help: { type: "boolean" as const, short: "h", default: false },
};

function client(values: { node: string; key?: string | undefined }, needsKey: boolean): FerryClient {
  const keyPath = values.key ?? process.env.FERRY_KEY;
  if (needsKey && keyPath === undefined) throw new UsageError("--key FILE is required (see 'ferry keygen')");
  return new FerryClient({ url: nodeUrl(values.node), ...(keyPath === undefined ? {} : { key: keyFile(keyPath, values.key === undefined) }) });
}

/** --node (or $FERRY_NODE): an http(s) URL, checked before any request. */
function nodeUrl(text: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // refused below
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new UsageError(`--node ${text}: not an http:// or https:// URL (e.g. http://127.0.0.1:8080)${process.env.FERRY_NODE === text ? " (from $FERRY_NODE)" : ""}`);
  }
  return text;
}

/** --key (or $FERRY_KEY): a file that is not there is a bad command line; one that is there is read and checked. */
function keyFile(path: string, fromEnv: boolean): ReturnType<typeof readKeyFile> {
  const source = fromEnv ? `$FERRY_KEY ${path}` : `--key ${path}`;
  let stats;
  try {
    stats = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code === "ENOENT" ? `${source}: no such file (make a key with 'ferry keygen --out ${path}')` : `${source}: cannot read it (${code ?? String(e)})`);
  }
  if (!stats.isFile()) throw new UsageError(`${source}: not a file`);
  return readKeyFile(path);
}

/**
 * The exit status of a job a command waited for (exit-status.ts): 1 if it ended trapped, failed or
 * cancelled; 0 if it completed, or is still running, paused or moved when the wait ends.
 */
function waitedStatus(view: JobView): number {
  return ["trapped", "failed", "cancelled"].includes(view.state) ? EXIT.failed : EXIT.ok;
}

export async function uploadCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...common, public: { type: "boolean", default: false } } });
  if (values.help) return help(io, HELP.upload);
  if (positionals.length !== 1) throw new UsageError("ferry upload takes exactly one <guest.wasm>");
  const bytes = readInput(positionals[0]!, "guest module");
  const c = client(values, true);
  const r = await c.uploadModule(bytes, { public: values.public });
  io.stdout.write(`${r.codeHash}\n`);
  return EXIT.ok;
}

export async function submitCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...common,
      entry: { type: "string" },
      args: { type: "string", multiple: true },
      input: { type: "string" },
      fuel: { type: "string" },
      sandbox: { type: "string" },
      wait: { type: "string" },
    },
  });
  if (values.help) return help(io, HELP.submit);
  if (positionals.length !== 1) throw new UsageError("ferry submit takes exactly one <code-hash>");
  if (values.sandbox !== undefined && values.sandbox !== "in-process" && values.sandbox !== "isolated") throw new UsageError("--sandbox must be in-process or isolated");
  // Checked against the entry's signature by the node; here only that each is a decimal number. JSON
  // cannot carry NaN or Infinity, and an integer past 2^53 travels as a decimal string.
  const args = argsOption(values.args).map((a) => {
    if (typeof a === "bigint") return a.toString();
    if (!Number.isFinite(a)) throw new UsageError(`--args: ${a} cannot be sent to a node (finite numbers only)`);
    return a;
  });
  const c = client(values, false);
  const fuelLimit = optionalInt("--fuel", values.fuel);
  const waitMs = optionalInt("--wait", values.wait);
  const input = values.input ? readInput(values.input, "input") : undefined;
  const view = await c.startJob({
    codeHash: positionals[0]!,
    ...(values.entry ? { entry: values.entry } : {}),
    args,
    ...(input ? { input } : {}),
    ...(fuelLimit ? { fuelLimit } : {}),
    ...(values.sandbox ? { sandbox: values.sandbox as "in-process" | "isolated" } : {}),
    ...(waitMs ? { waitMs } : {}),
  });
  io.stdout.write(`${JSON.stringify(view)}\n`);
  return waitMs ? waitedStatus(view) : EXIT.ok;
}

export async function statusCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...common, wait: { type: "boolean", default: false }, output: { type: "string" }, state: { type: "string" }, limit: { type: "string" }, before: { type: "string" } },
  });
  if (values.help) return help(io, HELP.status);
  if (positionals.length > 1) throw new UsageError("ferry status takes at most one <job-id>");
  const listing = values.state !== undefined || values.limit !== undefined || values.before !== undefined;
  if (positionals.length === 0) {
    // No id: your jobs on the node, newest first, a page at a time.
    if (values.wait) throw new UsageError("--wait needs a <job-id>");
    const limit = optionalInt("--limit", values.limit);
    const c = client(values, true);
    const page = await c.listJobs({
      ...(values.state === undefined ? {} : { state: values.state.split(",") }),
      ...(limit === undefined ? {} : { limit }),
      ...(values.before === undefined ? {} : { before: values.before }),
    });
    io.stdout.write(`${JSON.stringify(page)}\n`);
    return EXIT.ok;
  }
  if (listing) throw new UsageError("--state, --limit and --before list jobs: give no <job-id> with them");
  const c = client(values, false);
  const outputTo = values.output;
  if (outputTo !== undefined && outputTo !== "-") checkWritableFile("--output", outputTo);
  const view = values.wait ? await c.waitFor(positionals[0]!, { timeoutMs: 24 * 3600 * 1000 }) : await c.job(positionals[0]!);
  if (outputTo === "-") {
    // The output itself, raw, a page at a time (the job's JSON has only its size).
    await c.readOutput(view.id, (bytes) => new Promise<void>((resolve) => (io.stdout.write(bytes) ? resolve() : io.stdout.once("drain", resolve))));
  } else {
    if (outputTo !== undefined) {
      const fd = openSync(outputTo, "w");
      try {
        await c.readOutput(view.id, (bytes) => void writeSync(fd, bytes));
      } finally {
        closeSync(fd);
      }
    }
    io.stdout.write(`${JSON.stringify(view)}\n`);
  }
  return values.wait ? waitedStatus(view) : EXIT.ok;
}

export async function modulesCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...common, limit: { type: "string" }, before: { type: "string" } } });
  if (values.help) return help(io, HELP.modules);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const limit = optionalInt("--limit", values.limit);
  const c = client(values, false);
  const page = await c.listModules({ ...(limit === undefined ? {} : { limit }), ...(values.before === undefined ? {} : { before: values.before }) });
  io.stdout.write(`${JSON.stringify(page)}\n`);
  return EXIT.ok;
}

export async function migrateCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...common, to: { type: "string" }, weak: { type: "boolean", default: false } } });
  if (values.help) return help(io, HELP.migrate);
  if (positionals.length !== 1) throw new UsageError("ferry migrate takes exactly one <job-id>");
  if (values.to === undefined) throw new UsageError("--to PEER-ID is required");
  const c = client(values, true);
  const view = await c.migrate(positionals[0]!, values.to!, values.weak ? "weak" : "strong");
  io.stdout.write(`${JSON.stringify(view)}\n`);
  return EXIT.ok;
}

function help(io: Io, text: string): number {
  io.stdout.write(`${text}\n`);
  return 0;
}
