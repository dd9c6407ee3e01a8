// The `ferry` command: dispatch to a subcommand and turn every failure into a message and an
// exit status (0 done, 1 guest trapped, 2 bad command line, 3 rejected input, 4 internal error).

import { FerryError } from "../../runtime/index.js";
import { ServerError } from "../errors.js";
import { adminCommand } from "./admin.js";
import { clusterCommand } from "./cluster.js";
import { inspectCommand } from "./inspect.js";
import { keygenCommand } from "./keygen.js";
import { migrateCommand, modulesCommand, statusCommand, submitCommand, uploadCommand } from "./remote.js";
import { serveCommand } from "./serve.js";
import { resumeCommand, runCommand, type Io } from "./run.js";
import { simulateCommand } from "./simulate.js";
import { HELP, UsageError } from "./usage.js";

const COMMANDS: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  run: runCommand,
  resume: resumeCommand,
  inspect: inspectCommand,
  simulate: simulateCommand,
  cluster: clusterCommand,
  keygen: keygenCommand,
  admin: adminCommand,
  serve: serveCommand,
  upload: uploadCommand,
  submit: submitCommand,
  status: statusCommand,
  modules: modulesCommand,
  migrate: migrateCommand,
};

export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [command, ...rest] = joinNegativeValues(argv);
  if (command === undefined) {
    io.stderr.write(`ferry: a command is required\n${HELP.main}\n`);
    return 2;
  }
  if (command === "help" || command === "--help" || command === "-h") {
    const topic = command === "help" ? rest[0] : undefined;
    io.stdout.write(`${topic && topic in HELP ? HELP[topic as keyof typeof HELP] : HELP.main}\n`);
    return 0;
  }
  const handler = COMMANDS[command];
  try {
    if (!handler) throw new UsageError(`unknown command "${command}"`);
    return await handler(rest, io);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      io.stderr.write(`ferry: ${(e as Error).message}\nRun 'ferry ${command in COMMANDS ? `${command} ` : ""}--help' for usage.\n`);
      return 2;
    }
    if (e instanceof FerryError || e instanceof ServerError) {
      io.stderr.write(`ferry: error ${e.code}: ${e.message}\n`);
      return 3;
    }
    io.stderr.write(`ferry: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 4;
  }
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
