// `ferry node info` prints a node's entry for a peers file; `ferry peers add | list | remove` manage
// the peers of a node's data directory (or of a peers file) without guesswork: `add` fetches the
// peer's identity from the peer itself (GET /node), checks that its id is its key's fingerprint,
// shows that fingerprint and stores it. A running node sees a peer added to its data directory at
// once (the peers table is read on every peer request); a peers file is read again on SIGHUP.

import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../../runtime/light.js";
import { readNodeIdentity } from "../auth/node-identity.js";
import { parsePublicKey } from "../auth/keys.js";
import { FerryClient } from "../client.js";
import { ServerError } from "../errors.js";
import { checkSelfEntry, parsePeerEntry, readPeersFile, type PeerEntry } from "../peers/peers-file.js";
import { DEFAULT_DATA_DIR, openStore } from "./admin.js";
import { nodeUrl, printHelp } from "./connect.js";
import { EXIT } from "./exit-status.js";
import type { Io } from "./options.js";
import { checkWritableFile } from "./paths.js";
import { HELP, UsageError } from "./usage.js";

/** `ferry node info`: this node's entry, `{ nodeId, url, publicKey }`, from the running node or its data directory. */
export async function nodeCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") return printHelp(io, HELP.node);
  if (sub !== "info") throw new UsageError(`unknown node command "${sub}" (one of info)`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      node: { type: "string" },
      "data-dir": { type: "string" },
      url: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return printHelp(io, HELP.node);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  let entry: PeerEntry;
  if (values["data-dir"] !== undefined) {
    // Offline: the key in the data directory, and the address peers are to use (the node cannot know it).
    if (values.node !== undefined)
      throw new UsageError("give --node URL (ask the running node) or --data-dir DIR --url URL (read its key), not both");
    if (values.url === undefined) throw new UsageError("--data-dir needs --url URL: the address the node's peers reach it at");
    const identity = readNodeIdentity(values["data-dir"]);
    entry = parsePeerEntry({ nodeId: identity.nodeId, url: nodeUrl(values.url, "--url"), publicKey: identity.publicKeyPem }, "--url");
  } else {
    if (values.url !== undefined) throw new UsageError("--url goes with --data-dir (a running node says its own address)");
    const url = nodeUrl(values.node ?? process.env.FERRY_NODE ?? "http://127.0.0.1:8080");
    entry = checkSelfEntry(await new FerryClient({ url }).nodeInfo(), `node at ${url}`);
  }
  io.stdout.write(`${JSON.stringify(entry)}\n`);
  return EXIT.ok;
}

const SUBCOMMANDS: Record<string, (argv: string[], io: Io) => Promise<number>> = { add: addPeer, list: listPeers, remove: removePeer };

export async function peersCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined) throw new UsageError("a peers command is required (add, list or remove)");
  if (sub === "--help" || sub === "-h" || sub === "help") return printHelp(io, HELP.peers);
  const handler = SUBCOMMANDS[sub];
  if (!handler) throw new UsageError(`unknown peers command "${sub}" (one of ${Object.keys(SUBCOMMANDS).join(", ")})`);
  return handler(rest, io);
}

/** Where the peers are kept: a data directory's store (default ./data), or a peers file. */
const WHERE = {
  "data-dir": { type: "string" as const },
  file: { type: "string" as const },
  json: { type: "boolean" as const, default: false },
  help: { type: "boolean" as const, short: "h", default: false },
};

type Where = { "data-dir"?: string | undefined; file?: string | undefined };

function target(values: Where): { file: string } | { dataDir: string } {
  if (values.file !== undefined && values["data-dir"] !== undefined)
    throw new UsageError("give --data-dir DIR (a node's store) or --file FILE (a peers file), not both");
  return values.file !== undefined ? { file: values.file } : { dataDir: values["data-dir"] ?? DEFAULT_DATA_DIR };
}

/** `ferry peers add <url>`: the peer's own entry (GET /node), its id checked against its key, stored. */
async function addPeer(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...WHERE, expect: { type: "string" } } });
  if (values.help) return printHelp(io, HELP.peers);
  if (positionals.length !== 1) throw new UsageError("ferry peers add takes exactly one <peer-url>");
  const url = nodeUrl(positionals[0]!, "peer URL");
  const where = target(values);
  if ("file" in where) checkWritableFile("--file", where.file);
  const entry = checkSelfEntry(parsePeerEntry(await new FerryClient({ url }).nodeInfo(), `node at ${url}`), `node at ${url}`);
  if (values.expect !== undefined && values.expect !== entry.nodeId) {
    throw new ServerError(
      "forbidden",
      `the node at ${url} has key fingerprint ${entry.nodeId}, not the expected ${values.expect}; nothing added`,
    );
  }
  if ("file" in where) {
    const notes: string[] = [];
    const peers = existsSync(where.file) ? readPeersFile(where.file, notes) : [];
    for (const note of notes) io.stderr.write(`ferry: note: ${note}\n`);
    const kept = peers.filter((p) => p.nodeId !== entry.nodeId);
    writeFileAtomic(where.file, Buffer.from(`${JSON.stringify([...kept, entry], null, 2)}\n`));
  } else {
    using store = openStore({ "data-dir": where.dataDir, create: false });
    const self = readNodeIdentityOrUndefined(where.dataDir);
    if (self === entry.nodeId)
      throw new ServerError("bad_request", `the node at ${url} is the node of ${where.dataDir} itself; nothing added`);
    store.peers.upsert({ nodeId: entry.nodeId, url: entry.url, publicKey: parsePublicKey(entry.publicKey) });
  }
  if (values.json) io.stdout.write(`${JSON.stringify(entry)}\n`);
  else {
    io.stdout.write(
      `added peer ${entry.nodeId} at ${entry.url} to ${"file" in where ? where.file : where.dataDir}\n` +
        `  fingerprint ${groups(entry.nodeId)}\n` +
        `  (compare it with 'ferry node info' on that node; --expect ${entry.nodeId} makes a script check it)\n`,
    );
  }
  return EXIT.ok;
}

async function listPeers(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: WHERE });
  if (values.help) return printHelp(io, HELP.peers);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const where = target(values);
  let peers: PeerEntry[];
  if ("file" in where) peers = readPeersFile(where.file);
  else {
    using store = openStore({ "data-dir": where.dataDir, create: false });
    peers = store.peers.list();
  }
  if (values.json) io.stdout.write(`${JSON.stringify(peers)}\n`);
  else for (const p of peers) io.stdout.write(`${p.nodeId}  ${p.url}\n`);
  return EXIT.ok;
}

async function removePeer(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: WHERE });
  if (values.help) return printHelp(io, HELP.peers);
  if (positionals.length !== 1) throw new UsageError("ferry peers remove takes exactly one <node-id>");
  const nodeId = positionals[0]!;
  const where = target(values);
  let removed: boolean;
  if ("file" in where) {
    const peers = readPeersFile(where.file);
    const kept = peers.filter((p) => p.nodeId !== nodeId);
    removed = kept.length < peers.length;
    if (removed) writeFileAtomic(where.file, Buffer.from(`${JSON.stringify(kept, null, 2)}\n`));
  } else {
    using store = openStore({ "data-dir": where.dataDir, create: false });
    removed = store.peers.remove(nodeId);
  }
  if (!removed) throw new ServerError("not_found", `no peer ${nodeId} in ${"file" in where ? where.file : where.dataDir}`);
  io.stdout.write(values.json ? `${JSON.stringify({ removed: nodeId })}\n` : `removed peer ${nodeId}\n`);
  return EXIT.ok;
}

function readNodeIdentityOrUndefined(dataDir: string): string | undefined {
  try {
    return readNodeIdentity(dataDir).nodeId;
  } catch {
    return undefined; // a data directory whose node never started has no identity yet
  }
}

/** A fingerprint in groups of four, for reading aloud. */
function groups(hex: string): string {
  return hex.replace(/(.{4})(?=.)/g, "$1 ");
}
