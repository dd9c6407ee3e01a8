// `ferry admin`: manage a node's data directory offline or alongside a running node — add clients with
// their capabilities and quotas, change them, list them, disable and re-enable them.

import { rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { DEFAULT_QUOTAS, parseCapabilities, parseQuotas, type Quotas } from "../formats/grants.js";
import { parsePublicKey } from "../auth/keys.js";
import type { ClientRecord } from "../store/records.js";
import { prepareDataDir } from "../data-dir.js";
import { Store } from "../store/store.js";
import { readInput, type Io } from "./options.js";
import { HELP, UsageError } from "./usage.js";

export const DEFAULT_DATA_DIR = "./data";

const SUBCOMMANDS: Record<string, (argv: string[], io: Io) => number> = {
  "add-client": addClient,
  "update-client": updateClient,
  "list-clients": listClients,
  "disable-client": (argv, io) => setDisabled(argv, io, true),
  "enable-client": (argv, io) => setDisabled(argv, io, false),
};

export async function adminCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined) throw new UsageError("an admin command is required");
  if (sub === "--help" || sub === "-h" || sub === "help") return help(io);
  const handler = SUBCOMMANDS[sub];
  if (!handler) throw new UsageError(`unknown admin command "${sub}" (one of ${Object.keys(SUBCOMMANDS).join(", ")})`);
  return handler(rest, io);
}

/** What add-client and update-client both take: where, and the grants. */
const GRANT_OPTIONS = {
  "data-dir": { type: "string" as const, default: DEFAULT_DATA_DIR },
  create: { type: "boolean" as const, default: false },
  capabilities: { type: "string" as const, multiple: true as const },
  quotas: { type: "string" as const },
  json: { type: "boolean" as const, default: false },
  help: { type: "boolean" as const, short: "h", default: false },
};

function addClient(argv: string[], io: Io): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...GRANT_OPTIONS, "public-key": { type: "string" }, id: { type: "string" } },
  });
  if (values.help) return help(io);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (values["public-key"] === undefined) throw new UsageError("--public-key FILE is required (a key file, or a PEM public key)");
  // Parse everything before opening the store: a bad option must leave the data directory untouched.
  const publicKey = parsePublicKey(Buffer.from(readInput(values["public-key"], "public key")).toString("utf8"));
  const capabilities = parseCapabilities((values.capabilities ?? []).join(","));
  const quotas = parseQuotas(quotasOption(values.quotas));
  using store = openStore(values);
  const client = store.clients.add({ publicKey, capabilities, quotas, ...(values.id === undefined ? {} : { id: values.id }) });
  print(io, client, values.json, `added client ${client.id}`);
  return 0;
}

/**
 * `update-client <id> [--capabilities LIST] [--quotas Q]`: the named quotas change, the others keep
 * their values; --capabilities replaces the list ("" for none). The node applies them to the
 * client's next request and next job (running jobs keep the budgets they started with).
 */
function updateClient(argv: string[], io: Io): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: GRANT_OPTIONS,
  });
  if (values.help) return help(io);
  if (positionals.length !== 1) throw new UsageError("update-client takes exactly one <client-id>");
  if (values.capabilities === undefined && values.quotas === undefined)
    throw new UsageError("update-client needs --capabilities and/or --quotas (nothing to change)");
  if (values.create) throw new UsageError("update-client changes an existing client: --create makes no sense here");
  // Checked before the store is opened: unknown quota names and bad capabilities change nothing.
  const changes = values.quotas === undefined ? undefined : quotaChanges(values.quotas);
  const capabilities = values.capabilities === undefined ? undefined : parseCapabilities(values.capabilities.join(","));
  using store = openStore(values);
  const id = positionals[0]!;
  const current = store.clients.require(id);
  const quotas = changes && parseQuotas({ ...current.quotas, ...changes });
  const client = store.clients.updateGrants(id, { ...(capabilities ? { capabilities } : {}), ...(quotas ? { quotas } : {}) });
  print(io, client, values.json, `updated client ${client.id}`);
  return 0;
}

function listClients(argv: string[], io: Io): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
      create: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return help(io);
  using store = openStore(values);
  const clients = store.clients.list();
  if (values.json) io.stdout.write(`${JSON.stringify(clients)}\n`);
  else for (const c of clients) io.stdout.write(`${describe(c)}\n`);
  return 0;
}

function setDisabled(argv: string[], io: Io, disabled: boolean): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
      create: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return help(io);
  if (positionals.length !== 1) throw new UsageError(`${disabled ? "disable" : "enable"}-client takes exactly one <client-id>`);
  using store = openStore(values);
  const client = store.clients.setDisabled(positionals[0]!, disabled);
  print(io, client, values.json, `${disabled ? "disabled" : "enabled"} client ${client.id}`);
  return 0;
}

/**
 * The data directory's store. It must exist unless --create is given: a mistyped --data-dir must not
 * quietly become a new, empty store that the running node never reads. No owner lock: admin
 * changes are single SQLite transactions, safe beside the node that owns the directory
 * (docs/store.md, "One owner per data directory").
 */
export function openStore(values: { "data-dir": string; create: boolean }): Store {
  const dir = values["data-dir"];
  const { created } = prepareDataDir(dir, { create: values.create });
  try {
    return Store.open(dir);
  } catch (e) {
    if (created) rmSync(created, { recursive: true, force: true });
    throw e;
  }
}

/** `--quotas` takes JSON ('{"maxConcurrentJobs":2}') or name=value pairs ('maxConcurrentJobs=2,maxMemoryPages=256'). */
function quotasOption(text: string | undefined): Partial<Quotas> | string {
  if (text === undefined) return {};
  if (text.trim().startsWith("{")) return text;
  const out: Record<string, number> = {};
  for (const pair of text.split(",").filter((p) => p.trim() !== "")) {
    const [name, value, extra] = pair.split("=").map((s) => s.trim());
    if (!name || value === undefined || extra !== undefined || !/^\d+$/.test(value)) {
      throw new UsageError(`--quotas: "${pair}" must be name=integer (names: ${Object.keys(DEFAULT_QUOTAS).join(", ")})`);
    }
    out[name] = Number(value);
  }
  return out;
}

/** The quotas --quotas names, each checked (unknown names, non-positive values: bad_request naming it). */
function quotaChanges(text: string): Partial<Quotas> {
  const given = quotasOption(text);
  parseQuotas(given);
  return typeof given === "string" ? (JSON.parse(given) as Partial<Quotas>) : given;
}

function describe(c: ClientRecord): string {
  const q = c.quotas;
  return [
    `${c.id}${c.disabled ? " (disabled)" : ""}`,
    `  capabilities  ${c.capabilities.length ? c.capabilities.join(", ") : "(none)"}`,
    `  quotas        module ${q.maxModuleBytes} bytes, memory ${q.maxMemoryPages} pages, fuel ${q.maxFuelPerJob} per job, ${q.maxConcurrentJobs} concurrent jobs, files ${q.maxResourceBytes} bytes in ${q.maxResourceEntries} entries`,
  ].join("\n");
}

function print(io: Io, client: ClientRecord, json: boolean, headline: string): void {
  io.stdout.write(json ? `${JSON.stringify(client)}\n` : `${headline}\n${describe(client)}\n`);
}

function help(io: Io): number {
  io.stdout.write(`${HELP.admin}\n`);
  return 0;
}
