// Commands that talk to a running node over HTTP, signing with a key file when given one:
// `ferry upload`, `ferry modules`, `ferry submit`, `ferry status`, `ferry migrate` (the job actions —
// pause, resume, cancel, logs, output, snapshot, share — are in jobs.ts).

import type { SandboxKind } from "../../runtime/index.js";
import { closeSync, openSync, writeSync } from "node:fs";
import { parseArgs } from "node:util";
import { FerryClient } from "../client.js";
import type { JobView } from "../node/job-view.js";
import { checkSelfEntry } from "../peers/peers-file.js";
import { connect, locate, NODE_OPTIONS as common, nodeUrl, printHelp as help, waitedStatus } from "./connect.js";
import { EXIT } from "./exit-status.js";
import { checkWritableFile } from "./paths.js";
import { argsOption, optionalInt, readInput, type Io } from "./options.js";
import { HELP, UsageError } from "./usage.js";
import { afterDoubleDash, wasiRequest } from "./wasi-flags.js";

const client = connect;

export async function uploadCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...common, public: { type: "boolean", default: false } },
  });
  if (values.help) return help(io, HELP.upload);
  if (positionals.length !== 1) throw new UsageError("ferry upload takes exactly one <guest.wasm>");
  const bytes = readInput(positionals[0]!, "guest module");
  const c = client(values, true);
  const r = await c.uploadModule(bytes, { public: values.public });
  io.stdout.write(`${r.codeHash}\n`);
  return EXIT.ok;
}

export async function submitCommand(argv: string[], io: Io): Promise<number> {
  const programArgs = afterDoubleDash(argv);
  const { values, positionals } = parseArgs({
    args: programArgs === undefined ? argv : argv.slice(0, argv.indexOf("--")),
    allowPositionals: true,
    options: {
      ...common,
      entry: { type: "string" },
      args: { type: "string", multiple: true },
      input: { type: "string" },
      fuel: { type: "string" },
      sandbox: { type: "string" },
      wait: { type: "string" },
      quiet: { type: "boolean", short: "q", default: false },
      dir: { type: "string", multiple: true },
      "dir-ro": { type: "string", multiple: true },
      "dir-migrate": { type: "string", multiple: true },
      scratch: { type: "string", multiple: true },
      env: { type: "string", multiple: true },
    },
  });
  if (values.help) return help(io, HELP.submit);
  if (positionals.length !== 1) throw new UsageError("ferry submit takes exactly one <code-hash>");
  if (values.sandbox !== undefined && values.sandbox !== "in-process" && values.sandbox !== "isolated")
    throw new UsageError("--sandbox must be in-process or isolated");
  // Checked against the entry's signature by the node; here only that each is a decimal number. JSON
  // cannot carry NaN or Infinity, and an integer past 2^53 travels as a decimal string.
  const args = argsOption(values.args).map((a) => {
    if (typeof a === "bigint") return a.toString();
    if (!Number.isFinite(a)) throw new UsageError(`--args: ${a} cannot be sent to a node (finite numbers only)`);
    return a;
  });
  const wasi = wasiRequest(values, programArgs);
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
    ...(values.sandbox ? { sandbox: values.sandbox as SandboxKind } : {}),
    ...(waitMs ? { waitMs } : {}),
    ...(wasi ? { wasi } : {}),
  });
  // --quiet: the id alone, for a script (`JOB=$(ferry submit … -q)`).
  io.stdout.write(values.quiet ? `${view.id}\n` : `${JSON.stringify(view)}\n`);
  return waitMs ? waitedStatus(view) : EXIT.ok;
}

export async function statusCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...common,
      wait: { type: "boolean", default: false },
      output: { type: "string" },
      state: { type: "string" },
      limit: { type: "string" },
      before: { type: "string" },
      "no-follow": { type: "boolean", default: false },
    },
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
  const outputTo = values.output;
  if (outputTo !== undefined && outputTo !== "-") checkWritableFile("--output", outputTo);
  // The job where it lives now: a migrated job is followed to its node (--no-follow: this node's record).
  const follow = !values["no-follow"];
  const found = await locate(client(values, false), positionals[0]!, follow, io);
  const c = found.at;
  const view = values.wait ? await waitFollowing(c, found.view, follow, io) : found.view;
  if (outputTo === "-") {
    // The output itself, raw, a page at a time (the job's JSON has only its size).
    await c.readOutput(
      view.id,
      (bytes) => new Promise<void>((resolve) => (io.stdout.write(bytes) ? resolve() : io.stdout.once("drain", resolve))),
    );
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

/** Until the job ends or pauses (--wait), following it from node to node as it migrates (a job just handed over is `prepared` there a moment: waited for too). */
async function waitFollowing(c: FerryClient, view: JobView, follow: boolean, io: Io): Promise<JobView> {
  for (;;) {
    const settled = await c.waitFor(view.id, {
      timeoutMs: 24 * 3600 * 1000,
      states: ["paused", "done", "trapped", "failed", "cancelled", "migrated"],
    });
    if (settled.state !== "migrated" || !follow) return settled;
    const found = await locate(c, view.id, true, io);
    c = found.at;
    view = found.view;
  }
}

export async function modulesCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...common, limit: { type: "string" }, before: { type: "string" } },
  });
  if (values.help) return help(io, HELP.modules);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const limit = optionalInt("--limit", values.limit);
  const c = client(values, false);
  const page = await c.listModules({
    ...(limit === undefined ? {} : { limit }),
    ...(values.before === undefined ? {} : { before: values.before }),
  });
  io.stdout.write(`${JSON.stringify(page)}\n`);
  return EXIT.ok;
}

/** --to: a peer's node id as it is, or its URL, whose node says its id (GET /node, checked against its key). */
async function peerId(to: string): Promise<string> {
  if (!/^https?:\/\//.test(to)) return to;
  const url = nodeUrl(to, "--to");
  return checkSelfEntry(await new FerryClient({ url }).nodeInfo(), `node at ${url}`).nodeId;
}

export async function migrateCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...common, to: { type: "string" }, weak: { type: "boolean", default: false } },
  });
  if (values.help) return help(io, HELP.migrate);
  if (positionals.length !== 1) throw new UsageError("ferry migrate takes exactly one <job-id>");
  if (values.to === undefined) throw new UsageError("--to PEER-ID (or the peer's URL) is required");
  const { at } = await locate(client(values, true), positionals[0]!, true, io);
  const view = await at.migrate(positionals[0]!, await peerId(values.to), values.weak ? "weak" : "strong");
  io.stdout.write(`${JSON.stringify(view)}\n`);
  return EXIT.ok;
}
