// `ferry inspect`: verify a snapshot file and describe it without running anything.

import { parseArgs } from "node:util";
import { decodeImage } from "../../runtime/light.js";
import { DEFAULT_MAX_MEMORY_PAGES, decodeSnapshot, inspectSnapshot, snapshotDecodeLimits } from "../../runtime/index.js";
import { optionalInt, readInput, type Io } from "./options.js";
import { HELP, UsageError } from "./usage.js";

const STATE_NAMES = ["fresh", "running", "paused", "done", "trapped"];

export async function inspectCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      "max-memory-pages": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${HELP.inspect}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("ferry inspect takes exactly one <snap.ferry>");
  const bytes = readInput(positionals[0]!, "snapshot");
  const info = inspectSnapshot(bytes);
  // Decoding inflates memory: with the caps `ferry resume` and a node use, so a bomb is refused first.
  const snapshot = decodeSnapshot(
    bytes,
    snapshotDecodeLimits(optionalInt("--max-memory-pages", values["max-memory-pages"]) ?? DEFAULT_MAX_MEMORY_PAGES),
  );
  const { header, stack, capacity } = decodeImage(snapshot.continuation);
  const continuation = {
    state: STATE_NAMES[header.state] ?? String(header.state),
    entryExportIndex: header.entry,
    args: header.args.map((a) => `0x${a.toString(16)}`),
    resumeLabel: header.resumeLabel,
    fuelConsumed: header.fuelConsumed,
    fuelLimit: header.fuelLimit,
    startDone: (header.flags & 1) !== 0,
    stackUnwound: (header.flags & 2) !== 0,
    atCheckpoint: (header.flags & 4) !== 0,
    savedStackBytes: stack.byteLength,
    stackCapacity: capacity,
  };
  const embedsModule = snapshot.code !== undefined;
  if (values.json) {
    io.stdout.write(
      `${JSON.stringify({ ...info, continuation, embedsModule, outputBytes: snapshot.output.byteLength, inputBytes: snapshot.input.byteLength })}\n`,
    );
    return 0;
  }
  const lines = [
    `Ferry snapshot, format version ${info.formatVersion}, ${info.totalBytes} bytes, integrity ok`,
    `code hash        ${info.codeHash}${embedsModule ? " (module embedded)" : ""}`,
    `pipeline         ${info.pipelineVersion}`,
    `memory           ${info.memory.pageCount} pages, ${info.memory.storedPageCount} non-zero stored${info.memory.distinctPageCount < info.memory.storedPageCount ? ` (${info.memory.distinctPageCount} distinct)` : ""}, compression ${info.compression}`,
    `globals          ${info.globalCount}`,
    `input / output   ${snapshot.input.byteLength} / ${snapshot.output.byteLength} bytes`,
    `continuation     ${continuation.state}, entry export #${header.entry}, ${header.args.length} arg(s), fuel used ${header.fuelConsumed}${header.fuelLimit ? ` of ${header.fuelLimit}` : ""}`,
    `                 ${continuation.stackUnwound ? `unwound stack of ${stack.byteLength} bytes` : continuation.atCheckpoint ? `stopped at checkpoint, resume label ${header.resumeLabel}` : "no saved stack"}`,
    ...resourceLines(info.resources),
    "sections:",
    ...info.sections.map(
      (s) => `  ${s.name.padEnd(13)} ${String(s.encodedBytes).padStart(10)} bytes stored, ${String(s.decodedBytes).padStart(10)} decoded`,
    ),
  ];
  io.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

/** The resource segment in a few lines: WASI's descriptors by number, what each stands for. */
function resourceLines(resources: Record<string, unknown> | undefined): string[] {
  if (!resources) return [];
  const lines: string[] = [];
  for (const [id, state] of Object.entries(resources)) {
    const fds = (state as { fds?: Array<{ fd: number; kind: string; tree?: string; path: string; offset: number; write: boolean }> }).fds;
    lines.push(`resources        ${id}${Array.isArray(fds) ? `: ${fds.length} descriptor(s)` : ""}`);
    for (const f of Array.isArray(fds) ? fds : []) {
      const where = f.tree === undefined ? "" : ` ${f.tree}${f.path === "" ? "" : `/${f.path}`}`;
      const at = f.kind === "file" ? ` at ${f.offset}${f.write ? ", writable" : ""}` : "";
      lines.push(`  fd ${String(f.fd).padEnd(4)} ${f.kind}${where}${at}`);
    }
  }
  return lines;
}
