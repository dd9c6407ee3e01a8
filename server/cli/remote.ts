// Commands that talk to a running node over HTTP, signing with a key file when given one:
// `ferry upload`, `ferry modules`, `ferry submit`, `ferry status`, `ferry migrate`.

import { closeSync, openSync, writeSync } from "node:fs";
import { parseArgs } from "node:util";
import { readKeyFile } from "../auth/index.js";
import { FerryClient, HttpError } from "../client.js";
import { argsOption, optionalInt, readInput, type Io } from "./run.js";
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
  return new FerryClient({ url: values.node, ...(keyPath === undefined ? {} : { key: readKeyFile(keyPath) }) });
}

/** HTTP failures: print the node's code and message; 3 for a rejected request, 4 if the node is unreachable. */
async function talking(io: Io, fn: () => Promise<void>): Promise<number> {
  try {
    await fn();
    return 0;
  } catch (e) {
    if (e instanceof HttpError) {
      io.stderr.write(`ferry: ${e.status} ${e.code}: ${e.message}\n`);
      return e.status >= 500 ? 4 : 3;
    }
    if (e instanceof TypeError && /fetch failed/.test(e.message)) {
      io.stderr.write(`ferry: cannot reach the node: ${(e.cause as Error | undefined)?.message ?? e.message}\n`);
      return 4;
    }
    throw e;
  }
}

export async function uploadCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...common, public: { type: "boolean", default: false } } });
  if (values.help) return help(io, HELP.upload);
  if (positionals.length !== 1) throw new UsageError("ferry upload takes exactly one <guest.wasm>");
  const bytes = readInput(positionals[0]!, "guest module");
  const c = client(values, true);
  return talking(io, async () => {
    const r = await c.uploadModule(bytes, { public: values.public });
    io.stdout.write(`${r.codeHash}\n`);
  });
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
  return talking(io, async () => {
    const view = await c.startJob({
      codeHash: positionals[0]!,
      ...(values.entry ? { entry: values.entry } : {}),
      args,
      ...(values.input ? { input: readInput(values.input, "input") } : {}),
      ...(fuelLimit ? { fuelLimit } : {}),
      ...(values.sandbox ? { sandbox: values.sandbox as "in-process" | "isolated" } : {}),
      ...(waitMs ? { waitMs } : {}),
    });
    io.stdout.write(`${JSON.stringify(view)}\n`);
  });
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
    return talking(io, async () => {
      const page = await c.listJobs({
        ...(values.state === undefined ? {} : { state: values.state.split(",") }),
        ...(limit === undefined ? {} : { limit }),
        ...(values.before === undefined ? {} : { before: values.before }),
      });
      io.stdout.write(`${JSON.stringify(page)}\n`);
    });
  }
  if (listing) throw new UsageError("--state, --limit and --before list jobs: give no <job-id> with them");
  const c = client(values, false);
  const outputTo = values.output;
  return talking(io, async () => {
    const view = values.wait ? await c.waitFor(positionals[0]!, { timeoutMs: 24 * 3600 * 1000 }) : await c.job(positionals[0]!);
    if (outputTo === "-") {
      // The output itself, raw, a page at a time (the job's JSON has only its size).
      await c.readOutput(view.id, (bytes) => new Promise<void>((resolve) => (io.stdout.write(bytes) ? resolve() : io.stdout.once("drain", resolve))));
      return;
    }
    if (outputTo !== undefined) {
      const fd = openSync(outputTo, "w");
      try {
        await c.readOutput(view.id, (bytes) => void writeSync(fd, bytes));
      } finally {
        closeSync(fd);
      }
    }
    io.stdout.write(`${JSON.stringify(view)}\n`);
  });
}

export async function modulesCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...common, limit: { type: "string" }, before: { type: "string" } } });
  if (values.help) return help(io, HELP.modules);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const limit = optionalInt("--limit", values.limit);
  const c = client(values, false);
  return talking(io, async () => {
    const page = await c.listModules({ ...(limit === undefined ? {} : { limit }), ...(values.before === undefined ? {} : { before: values.before }) });
    io.stdout.write(`${JSON.stringify(page)}\n`);
  });
}

export async function migrateCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...common, to: { type: "string" }, weak: { type: "boolean", default: false } } });
  if (values.help) return help(io, HELP.migrate);
  if (positionals.length !== 1) throw new UsageError("ferry migrate takes exactly one <job-id>");
  if (values.to === undefined) throw new UsageError("--to PEER-ID is required");
  const c = client(values, true);
  return talking(io, async () => {
    const view = await c.migrate(positionals[0]!, values.to!, values.weak ? "weak" : "strong");
    io.stdout.write(`${JSON.stringify(view)}\n`);
  });
}

function help(io: Io, text: string): number {
  io.stdout.write(`${text}\n`);
  return 0;
}
