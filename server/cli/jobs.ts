// The job actions of the HTTP API as commands: `ferry pause | resume | cancel | logs | output |
// snapshot | share <job-id>`. Each finds the job where it lives now (a migrated job is followed to
// its node; --no-follow acts on this node's record only) and signs with --key when given one.

import { closeSync, existsSync, openSync, writeSync } from "node:fs";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../../runtime/light.js";
import { MAX_FOLLOW_HOPS, type FerryClient } from "../client.js";
import type { JobView } from "../node/job-view.js";
import { connect, FollowError, locate, NODE_OPTIONS, printHelp } from "./connect.js";
import { EXIT } from "./exit-status.js";
import type { Io } from "./options.js";
import { optionalInt } from "./options.js";
import { checkWritableFile } from "./paths.js";
import { HELP, UsageError } from "./usage.js";

/** A job id as nodes make them (random UUIDs): how `ferry resume` tells a job from a snapshot file. */
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const OPTIONS = { ...NODE_OPTIONS, "no-follow": { type: "boolean" as const, default: false } };

type Values = { node: string; key?: string | undefined; "no-follow": boolean };

/** The one <job-id> of `command`, and a client for the node the job lives on now. */
async function jobAt(
  command: string,
  values: Values,
  positionals: string[],
  io: Io,
  needsKey = false,
): Promise<{ id: string; at: FerryClient; view: JobView }> {
  if (positionals.length !== 1) throw new UsageError(`ferry ${command} takes exactly one <job-id>`);
  const id = positionals[0]!;
  const { at, view } = await locate(connect(values, needsKey), id, !values["no-follow"], io);
  return { id, at, view };
}

/** Pause, resume, cancel: the job's JSON after the action. */
function control(command: "pause" | "resume" | "cancel", act: (c: FerryClient, id: string) => Promise<JobView>) {
  return async (argv: string[], io: Io): Promise<number> => {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
    if (values.help) return printHelp(io, HELP[command]);
    const { id, at } = await jobAt(command, values, positionals, io);
    io.stdout.write(`${JSON.stringify(await act(at, id))}\n`);
    return EXIT.ok;
  };
}

export const pauseCommand = control("pause", (c, id) => c.pause(id));
export const cancelCommand = control("cancel", (c, id) => c.cancel(id));
const resumeJob = control("resume", (c, id) => c.resume(id));

/**
 * `ferry resume` continues a paused job on a node when given a job id, and a checkpointed run from a
 * snapshot file otherwise (run.ts); a file of that name wins, so an existing path is never mistaken.
 */
export async function resumeCommand(argv: string[], io: Io): Promise<number> {
  const target = argv.find((a) => JOB_ID.test(a));
  if (target !== undefined && !existsSync(target)) return resumeJob(argv, io);
  return (await import("./run.js")).resumeCommand(argv, io);
}

/** `ferry output <job-id> [--out FILE]`: the job's output so far, raw, a page at a time. */
export async function outputCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...OPTIONS, out: { type: "string" } } });
  if (values.help) return printHelp(io, HELP.output);
  const out = values.out;
  if (out !== undefined && out !== "-") checkWritableFile("--out", out);
  const { id, at } = await jobAt("output", values, positionals, io);
  if (out === undefined || out === "-") {
    await at.readOutput(id, (bytes) => write(io.stdout, bytes));
    return EXIT.ok;
  }
  const fd = openSync(out, "w");
  try {
    await at.readOutput(id, (bytes) => void writeSync(fd, bytes));
  } finally {
    closeSync(fd);
  }
  return EXIT.ok;
}

/**
 * `ferry logs <job-id> [--follow]`: the output so far as text on stdout; with --follow, then the
 * output and log lines as the job writes them (log lines on stderr, prefixed "log: ") and its state
 * changes, until it ends — following it to the node it migrates to. Log lines are not kept by a
 * node: only --follow shows them, from when it starts.
 */
export async function logsCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...OPTIONS, follow: { type: "boolean", short: "f", default: false } },
  });
  if (values.help) return printHelp(io, HELP.logs);
  let { id, at, view } = await jobAt("logs", values, positionals, io);
  if (!values.follow) {
    await at.readOutput(id, (bytes) => write(io.stdout, bytes));
    return EXIT.ok;
  }
  let printed = 0;
  let hops = 0;
  let waitMs = 0;
  let told = "";
  for (;;) {
    let moved: JobView["movedTo"] = null;
    let last = "";
    for await (const e of at.events(id)) {
      if (e.type === "output") {
        await write(io.stdout, e.bytes);
        printed += e.bytes.byteLength;
      } else if (e.type === "log") {
        io.stderr.write(`log: ${e.line}\n`);
      } else {
        // The stream's first event says how much output there was when it started: catch up to it.
        // A job handed over but not yet committed here (`prepared`) has no output of its own yet:
        // its count says nothing (taking it as a restart printed the output twice on a busy machine,
        // where the follower often arrives before the COMMIT).
        const counts = e.outputBytes !== undefined && e.state !== "prepared";
        if (counts && e.outputBytes! > printed) printed = await catchUp(at, id, printed, e.outputBytes!, io);
        else if (counts) printed = e.outputBytes!; // a weak move restarts the output
        // Each change once (a stream asked again starts with the state it already told).
        if (e.state !== told) io.stderr.write(`ferry: job ${id} ${e.state}${describeResult(e.result)}\n`);
        told = e.state;
        moved = e.state === "migrated" ? (e.movedTo ?? null) : null;
        last = e.state;
      }
    }
    if (!FINAL_STATES.includes(last)) {
      // The stream ended on a state that is not an end: the job is not live on that node yet (just
      // handed over, `prepared` until the COMMIT). Ask again shortly.
      waitMs = Math.min(2_000, Math.max(50, waitMs * 2));
      await new Promise((r) => setTimeout(r, waitMs));
      continue;
    }
    waitMs = 0;
    if (!moved || values["no-follow"]) break;
    hops++;
    if (moved.url === null) throw new FollowError(id, `moved to node ${moved.node}, whose address this node no longer knows`, undefined);
    if (hops >= MAX_FOLLOW_HOPS) throw new FollowError(id, `still moving after ${MAX_FOLLOW_HOPS} hops`, undefined);
    at = at.at(moved.url);
  }
  view = await at.job(id).catch(() => view);
  return ["trapped", "failed", "cancelled"].includes(view.state) ? EXIT.failed : EXIT.ok;
}

/** States after which a job's stream has nothing more to say on that node. */
const FINAL_STATES = ["done", "trapped", "failed", "cancelled", "migrated"];

/** Output bytes [from, to) by pages, to stdout; returns `to`. */
async function catchUp(c: FerryClient, id: string, from: number, to: number, io: Io): Promise<number> {
  let offset = from;
  while (offset < to) {
    const { bytes } = await c.outputPage(id, { offset, limit: Math.min(to - offset, 1024 * 1024) });
    if (bytes.byteLength === 0) break;
    await write(io.stdout, bytes);
    offset += bytes.byteLength;
  }
  return offset;
}

function describeResult(result: unknown): string {
  if (result === null || typeof result !== "object") return "";
  const r = result as { status?: string; value?: unknown; code?: string; message?: string };
  if (r.status === "done") return `: ${JSON.stringify(r.value)}`;
  if (r.status === "trapped") return `: ${r.code}${r.message ? ` (${r.message})` : ""}`;
  if (r.message) return `: ${r.message}`;
  return "";
}

/**
 * `ferry snapshot <job-id> [--out FILE]`: the snapshot of a paused job (GET /jobs/:id/snapshot,
 * without its module), written atomically (default <job-id>.ferry); `ferry inspect FILE` describes
 * it, `ferry resume FILE --module <guest.wasm>` continues it here. --out - writes it to stdout.
 */
export async function snapshotCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...OPTIONS, out: { type: "string" } } });
  if (values.help) return printHelp(io, HELP.snapshot);
  if (positionals.length !== 1) throw new UsageError("ferry snapshot takes exactly one <job-id>");
  const out = values.out ?? `${positionals[0]}.ferry`;
  if (out !== "-") checkWritableFile("--out", out);
  const { id, at } = await jobAt("snapshot", values, positionals, io);
  const bytes = await at.snapshot(id);
  if (out === "-") {
    await write(io.stdout, bytes);
    return EXIT.ok;
  }
  writeFileAtomic(out, bytes);
  io.stderr.write(
    `ferry: wrote ${out} (${bytes.byteLength} bytes): 'ferry inspect ${out}' describes it, 'ferry resume ${out} --module <guest.wasm>' continues it here\n`,
  );
  return EXIT.ok;
}

/**
 * `ferry share <job-id> [--peers A,B] [--lifetime-ms N]`: let the node's load sharing move a job of
 * yours to its peers and run it there as yours (one signed grant per peer; default every peer).
 */
export async function shareCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...OPTIONS, peers: { type: "string" }, "lifetime-ms": { type: "string" } },
  });
  if (values.help) return printHelp(io, HELP.share);
  const lifetimeMs = optionalInt("--lifetime-ms", values["lifetime-ms"]);
  const peers = values.peers
    ?.split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (peers !== undefined && peers.length === 0) throw new UsageError("--peers needs at least one peer id");
  const { id, at } = await jobAt("share", values, positionals, io, true);
  const view = await at.allowSharing(id, { ...(peers ? { peers } : {}), ...(lifetimeMs === undefined ? {} : { lifetimeMs }) });
  io.stdout.write(`${JSON.stringify(view)}\n`);
  return EXIT.ok;
}

/** Bytes to a stream, waiting for it to drain (a pipe to `head` or a slow terminal). */
function write(stream: Io["stdout"], bytes: Uint8Array): Promise<void> {
  return new Promise<void>((resolve) => (stream.write(bytes) ? resolve() : stream.once("drain", resolve)));
}
