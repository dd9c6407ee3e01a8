// `ferry serve`: run a Ferry node until SIGINT/SIGTERM. Prints one line with its id and URL (or a
// JSON object with --json, for scripts and the cluster runner).

import { parseArgs } from "node:util";
import { isFerryError } from "../../runtime/index.js";
import { normalizePolicyOptions, POLICY_KINDS, type PolicyKind, type PolicyOptions } from "../../runtime/balance/index.js";
import type { LiveBalanceOptions } from "../balance/live-balancer.js";
import { ServerError } from "../errors.js";
import { crashAt } from "../migration/faults.js";
import { startNode, type NodeServerOptions, type PeerConfig, type RunningNode } from "../node-server.js";
import { readPeersFile } from "../peers/peers-file.js";
import { DEFAULT_DATA_DIR } from "./admin.js";
import { optionalInt, type Io } from "./options.js";
import { HELP, UsageError } from "./usage.js";

export const DEFAULT_PORT = 8080;

const SERVE_OPTIONS = {
  port: { type: "string" },
  host: { type: "string", default: "127.0.0.1" },
  "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
  peers: { type: "string" },
  "checkpoint-interval-ms": { type: "string" },
  "max-running-jobs": { type: "string" },
  "precopy-rounds": { type: "string" },
  "isolated-timeout-ms": { type: "string" },
  "anonymous-ttl-ms": { type: "string" },
  "hibernate-after-ms": { type: "string" },
  "anonymous-fuel": { type: "string" },
  "compile-timeout-ms": { type: "string" },
  "compile-timeout-ms-per-kib": { type: "string" },
  "compile-workers": { type: "string" },
  "compile-memory-mb": { type: "string" },
  balance: { type: "string" },
  "balance-lower": { type: "string" },
  "balance-upper": { type: "string" },
  "balance-max-polls": { type: "string" },
  "balance-interval-ms": { type: "string" },
  "balance-threshold": { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

type ServeValues = ReturnType<typeof parseArgs<{ options: typeof SERVE_OPTIONS; allowPositionals: true }>>["values"];

export async function serveCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: SERVE_OPTIONS });
  if (values.help) {
    io.stdout.write(`${HELP.serve}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const options = nodeOptions(values);
  const balance = balanceOptions(values);
  const peersFile = values.peers;
  const peers = peersFile === undefined ? [] : readPeers(peersFile, io);
  const node = await startNode({ ...options, peers });
  for (const note of node.notes) io.stderr.write(`ferry: note: ${note}\n`);
  // Load sharing with the peers: the runtime/balance policy, live (docs/load-sharing.md).
  if (balance) node.balancer.configure(balance);
  // SIGHUP: read the peers file again (new peers, changed keys) without a restart.
  const reload = (): void => reloadPeers(node, peersFile, io);
  process.on("SIGHUP", reload);
  // Listen for the stop signals before announcing the node: a script that reads the announcement and
  // at once sends SIGTERM must get a clean stop (data directory released), not the default kill.
  const stopped = new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      process.off("SIGHUP", reload);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  announce(io, node, values["data-dir"], values.json);
  await stopped;
  await node.close();
  return 0;
}

/** The node's options from the command line (all but the peers). */
function nodeOptions(values: ServeValues): NodeServerOptions {
  const port = values.port === "0" ? 0 : (optionalInt("--port", values.port) ?? DEFAULT_PORT);
  if (port > 65_535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const zeroOrInt = (flag: keyof ServeValues): number | undefined => {
    const text = values[flag] as string | undefined;
    return text === "0" ? 0 : optionalInt(`--${flag}`, text);
  };
  const int = (flag: keyof ServeValues): number | undefined => optionalInt(`--${flag}`, values[flag] as string | undefined);
  const checkpointIntervalMs = zeroOrInt("checkpoint-interval-ms");
  const maxRunningJobs = int("max-running-jobs");
  const precopyRounds = int("precopy-rounds");
  if (precopyRounds !== undefined && (precopyRounds < 1 || precopyRounds > 16))
    throw new UsageError(`--precopy-rounds must be from 1 to 16, got ${precopyRounds}`);
  const defined = <T extends object>(o: T): Partial<T> =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  // Test hook: crash (SIGKILL) at a named step of the migration protocol.
  const crash = process.env.FERRY_CRASH_AT;
  return {
    dataDir: values["data-dir"],
    owner: "ferry serve",
    port,
    host: values.host,
    ...defined({ checkpointIntervalMs, maxRunningJobs }),
    ...(precopyRounds === undefined ? {} : { precopy: { maxRounds: precopyRounds } }),
    limits: defined({
      isolatedSliceTimeoutMs: int("isolated-timeout-ms"),
      anonymousTtlMs: int("anonymous-ttl-ms"),
      hibernateAfterMs: int("hibernate-after-ms"),
      maxAnonymousFuelPerJob: int("anonymous-fuel"),
    }),
    compile: defined({
      timeoutMs: int("compile-timeout-ms"),
      timeoutMsPerKiB: zeroOrInt("compile-timeout-ms-per-kib"),
      maxConcurrent: int("compile-workers"),
      maxBinaryenHeapMb: int("compile-memory-mb"),
    }),
    ...(crash ? { faults: crashAt(crash) } : {}),
  };
}

/** One line with the node's id and URL and how to try it, or (--json) its peers-file entry and more. */
function announce(io: Io, node: RunningNode, dataDir: string, json: boolean): void {
  // The first three fields are this node's peers-file entry, exactly (server/peers/peers-file.ts).
  const info = { nodeId: node.identity.nodeId, url: node.url, publicKey: node.identity.publicKeyPem, dataDir, recovered: node.recovered };
  io.stdout.write(
    json
      ? `${JSON.stringify(info)}\n`
      : `ferry node ${info.nodeId} listening on ${info.url} (data in ${info.dataDir}; resumed ${node.recovered.resumed}, restarted ${node.recovered.restarted} jobs)
Try it (another terminal; in a clone of Ferry, 'npm link' once puts ferry on your PATH, or use npx ferry):
  ferry keygen --out me.key.json
  ferry admin add-client --data-dir ${info.dataDir} --public-key me.key.json
  ferry upload build/guests/sieve.wasm --key me.key.json --node ${info.url} --public
  ferry submit <code-hash> --args 1000000 --wait 10000 --node ${info.url}
Dashboard: ${info.url}/   API: ${info.url}/openapi.json   Stop: Ctrl-C (running jobs resume from their checkpoints on the next start)
`,
  );
}

/**
 * --balance POLICY and its knobs (thresholds count queued + running jobs), checked before the node
 * starts: a knob the policy does not have, or a bad value, is a usage error naming the flag.
 */
function balanceOptions(values: ServeValues): LiveBalanceOptions | undefined {
  const kind = values.balance as string | undefined;
  const count = (flag: keyof ServeValues): number | undefined => {
    const text = values[flag] as string | undefined;
    return text === "0" ? 0 : optionalInt(`--${flag}`, text);
  };
  const threshold = count("balance-threshold");
  if (kind === undefined) {
    const stray = BALANCE_KNOBS.find((flag) => values[flag] !== undefined);
    if (stray) throw new UsageError(`--${stray} needs --balance POLICY`);
    return undefined;
  }
  if (!(POLICY_KINDS as readonly string[]).includes(kind))
    throw new UsageError(`--balance must be one of ${POLICY_KINDS.join(", ")}, got "${kind}"`);
  const single = kind === "elz-sender" || kind === "elz-receiver";
  const foreign = single ? TWO_THRESHOLD_KNOBS : (["balance-threshold"] as const);
  const stray = foreign.find((flag) => values[flag] !== undefined);
  if (stray) throw new UsageError(`--${stray} does not apply to --balance ${kind}`);
  const policy: PolicyOptions = single
    ? { kind: kind as PolicyKind, ...(threshold === undefined ? {} : { threshold }), maxPolls: count("balance-max-polls") ?? 3 }
    : {
        kind: kind as PolicyKind,
        lower: count("balance-lower") ?? 1,
        upper: count("balance-upper") ?? 4,
        maxPolls: count("balance-max-polls") ?? 3,
        retryInterval: count("balance-interval-ms") ?? 500,
      };
  try {
    normalizePolicyOptions(policy);
  } catch (e) {
    if (isFerryError(e)) throw new UsageError(`--balance ${kind}: ${e.detail ?? e.message}`);
    throw e;
  }
  return { policy };
}

/** Knobs of the two-threshold policies (sender, receiver, symmetric, adaptive). */
const TWO_THRESHOLD_KNOBS = ["balance-lower", "balance-upper", "balance-interval-ms"] as const;
const BALANCE_KNOBS = [...TWO_THRESHOLD_KNOBS, "balance-max-polls", "balance-threshold"] as const;

/** The peers file named by --peers (server/peers/peers-file.ts); deprecation notes go to stderr. */
function readPeers(path: string, io: Io): PeerConfig[] {
  const notes: string[] = [];
  let peers: PeerConfig[];
  try {
    peers = readPeersFile(path, notes, `--peers ${path}`);
  } catch (e) {
    if (e instanceof ServerError) throw new UsageError(e.detail ?? e.message);
    throw e;
  }
  for (const note of notes) io.stderr.write(`ferry: note: ${note}\n`);
  return peers;
}

/**
 * On SIGHUP: the peers file again, added to (or updated in) the node's peers. A file that cannot be
 * read or has a bad entry changes nothing, and the node goes on: one line on stderr either way.
 */
function reloadPeers(node: RunningNode, path: string | undefined, io: Io): void {
  if (path === undefined) {
    io.stderr.write("ferry: SIGHUP: no --peers file to read again (peers added with 'ferry peers add' are used at once)\n");
    return;
  }
  try {
    const peers = readPeers(path, io);
    node.addPeers(peers);
    io.stderr.write(
      `ferry: SIGHUP: read ${path} again: ${peers.length} peer${peers.length === 1 ? "" : "s"} (${node.store.peers.list().length} known)\n`,
    );
  } catch (e) {
    io.stderr.write(`ferry: SIGHUP: ${path} not read again, peers unchanged: ${e instanceof Error ? e.message : String(e)}\n`);
  }
}
