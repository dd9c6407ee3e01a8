// The `ferry` command: dispatch to a subcommand and turn every failure into one line on stderr and
// an exit status from the one table (exit-status.ts; failure.ts does the mapping).

import { EXIT, EXIT_STATUS_TABLE } from "./exit-status.js";
import { describeFailure } from "./failure.js";
import type { Io } from "./run.js";
import { HELP, UsageError } from "./usage.js";

export type Command = (argv: string[], io: Io) => Promise<number>;

/**
 * Commands that live outside the product (the lab's `simulate` and `cluster`), registered by the
 * process entry (bin/ferry.js) rather than imported here: the server never imports the lab.
 */
export interface CommandSet {
  /** The section of the main help that lists them. */
  title: string;
  commands: Record<string, { summary: string; help: string; load: () => Promise<Command> }>;
}

const NO_COMMANDS: CommandSet = { title: "", commands: {} };

// Each command's module is imported when that command runs, never before: `ferry --help` or
// `ferry status` must not pay for the store (better-sqlite3), the HTTP server (Hono) or the
// simulator, and only a compile loads Binaryen (README, "CLI start-up"; tests/server/cli/cli-startup.test.ts).
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import("./run.js")).runCommand,
  // A job id resumes a paused job on a node; anything else is a snapshot file (jobs.ts decides).
  resume: async () => (await import("./jobs.js")).resumeCommand,
  inspect: async () => (await import("./inspect.js")).inspectCommand,
  keygen: async () => (await import("./keygen.js")).keygenCommand,
  admin: async () => (await import("./admin.js")).adminCommand,
  serve: async () => (await import("./serve.js")).serveCommand,
  upload: async () => (await import("./remote.js")).uploadCommand,
  submit: async () => (await import("./remote.js")).submitCommand,
  status: async () => (await import("./remote.js")).statusCommand,
  modules: async () => (await import("./remote.js")).modulesCommand,
  migrate: async () => (await import("./remote.js")).migrateCommand,
  pause: async () => (await import("./jobs.js")).pauseCommand,
  cancel: async () => (await import("./jobs.js")).cancelCommand,
  logs: async () => (await import("./jobs.js")).logsCommand,
  output: async () => (await import("./jobs.js")).outputCommand,
  snapshot: async () => (await import("./jobs.js")).snapshotCommand,
  share: async () => (await import("./jobs.js")).shareCommand,
  node: async () => (await import("./peers.js")).nodeCommand,
  peers: async () => (await import("./peers.js")).peersCommand,
  cache: async () => (await import("./cache.js")).cacheCommand,
};

export async function main(
  argv: string[],
  io: Io = { stdout: process.stdout, stderr: process.stderr },
  extra: CommandSet = NO_COMMANDS,
): Promise<number> {
  const [command, ...rest] = joinNegativeValues(argv);
  if (command === undefined) {
    io.stdout.write(`${mainHelp(extra)}\n`);
    io.stderr.write("ferry: a command is required (see 'ferry --help')\n");
    return EXIT.usage;
  }
  if (command === "help" || command === "--help" || command === "-h") {
    io.stdout.write(`${helpOn(command === "help" ? rest[0] : undefined, extra)}\n`);
    return 0;
  }
  const load = Object.hasOwn(COMMANDS, command)
    ? COMMANDS[command]
    : Object.hasOwn(extra.commands, command)
      ? extra.commands[command]!.load
      : undefined;
  try {
    if (!load) throw new UsageError(`unknown command "${command}"`);
    return await (await load())(rest, io);
  } catch (e) {
    const { status, line } = describeFailure(e, load ? command : undefined);
    io.stderr.write(`ferry: ${line}\n`);
    return status;
  }
}

/** The main help: the product's commands, then each registered set's under its own title. */
function mainHelp(extra: CommandSet): string {
  const names = Object.keys(extra.commands);
  if (names.length === 0) return HELP.main;
  const lines = names.map((name) => `  ${name.padEnd(20)} ${extra.commands[name]!.summary}`);
  const [commands, rest] = HELP.main.split("\n\nRun 'ferry <command> --help'", 2) as [string, string];
  return `${commands}\n\n${extra.title}:\n${lines.join("\n")}\n\nRun 'ferry <command> --help'${rest}`;
}

function helpOn(topic: string | undefined, extra: CommandSet): string {
  if (topic !== undefined && Object.hasOwn(HELP, topic)) return HELP[topic as keyof typeof HELP];
  if (topic !== undefined && Object.hasOwn(extra.commands, topic)) return `${extra.commands[topic]!.help}\n\n${EXIT_STATUS_TABLE}`;
  return mainHelp(extra);
}

/** A value that starts like a negative number ("-5", "-2.5,3", "-.5", "-Infinity"), never an option. */
const NEGATIVE_VALUE = /^-(\d|\.\d|Infinity|NaN)/;

/**
 * `--args -5` means `--args=-5`: node's parseArgs refuses a value that starts with a dash as
 * ambiguous, but no Ferry option is named like a number, so such a value can only be a value.
 */
export function joinNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") return [...out, ...argv.slice(i)];
    const next = argv[i + 1];
    if (token.startsWith("--") && !token.includes("=") && next !== undefined && NEGATIVE_VALUE.test(next)) {
      out.push(`${token}=${next}`);
      i++;
    } else out.push(token);
  }
  return out;
}
