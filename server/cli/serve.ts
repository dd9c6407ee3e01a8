// `ferry serve`: run a Ferry node until SIGINT/SIGTERM. Prints one line with its id and URL (or a
// JSON object with --json, for scripts and the cluster runner).

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { POLICY_KINDS, type PolicyKind } from "../../runtime/balance/policy-options.js";
import type { LiveBalanceOptions } from "../balance/live-balancer.js";
import { balancerOf } from "../balance/routes.js";
import { parsePublicKey } from "../auth/keys.js";
import { ServerError } from "../errors.js";
import { crashAt } from "../migration/faults.js";
import { checkPeerUrl } from "../migration/peer-url.js";
import { startNode, type PeerConfig } from "../node-server.js";
import { DEFAULT_DATA_DIR } from "./admin.js";
import { optionalInt, type Io } from "./run.js";
import { HELP, UsageError } from "./usage.js";

export const DEFAULT_PORT = 8080;

export async function serveCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
      peers: { type: "string" },
      "checkpoint-interval-ms": { type: "string" },
      "max-running-jobs": { type: "string" },
      "precopy-rounds": { type: "string" },
      "isolated-timeout-ms": { type: "string" },
      "anonymous-ttl-ms": { type: "string" },
      "compile-timeout-ms": { type: "string" },
      "compile-timeout-ms-per-kib": { type: "string" },
      "compile-workers": { type: "string" },
      "compile-memory-mb": { type: "string" },
      balance: { type: "string" },
      "balance-lower": { type: "string" },
      "balance-upper": { type: "string" },
      "balance-max-polls": { type: "string" },
      "balance-interval-ms": { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${HELP.serve}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const port = values.port === "0" ? 0 : (optionalInt("--port", values.port) ?? DEFAULT_PORT);
  if (port > 65_535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const checkpointText = values["checkpoint-interval-ms"];
  const checkpointIntervalMs = checkpointText === "0" ? 0 : optionalInt("--checkpoint-interval-ms", checkpointText);
  const maxRunningJobs = optionalInt("--max-running-jobs", values["max-running-jobs"]);
  const precopyRounds = optionalInt("--precopy-rounds", values["precopy-rounds"]);
  if (precopyRounds !== undefined && (precopyRounds < 1 || precopyRounds > 16)) throw new UsageError(`--precopy-rounds must be from 1 to 16, got ${precopyRounds}`);
  const isolatedSliceTimeoutMs = optionalInt("--isolated-timeout-ms", values["isolated-timeout-ms"]);
  const anonymousTtlMs = optionalInt("--anonymous-ttl-ms", values["anonymous-ttl-ms"]);
  const compileTimeoutMs = optionalInt("--compile-timeout-ms", values["compile-timeout-ms"]);
  const compileTimeoutPerKiB = values["compile-timeout-ms-per-kib"] === "0" ? 0 : optionalInt("--compile-timeout-ms-per-kib", values["compile-timeout-ms-per-kib"]);
  const compileWorkers = optionalInt("--compile-workers", values["compile-workers"]);
  const compileMemoryMb = optionalInt("--compile-memory-mb", values["compile-memory-mb"]);
  const balance = balanceOptions(values);
  const peers = values.peers === undefined ? [] : readPeers(values.peers);
  // Test hook: crash (SIGKILL) at a named step of the migration protocol.
  const crash = process.env.FERRY_CRASH_AT;

  const node = await startNode({
    dataDir: values["data-dir"],
    owner: "ferry serve",
    port,
    host: values.host,
    peers,
    ...(checkpointIntervalMs === undefined ? {} : { checkpointIntervalMs }),
    ...(maxRunningJobs === undefined ? {} : { maxRunningJobs }),
    ...(precopyRounds === undefined ? {} : { precopy: { maxRounds: precopyRounds } }),
    limits: {
      ...(isolatedSliceTimeoutMs === undefined ? {} : { isolatedSliceTimeoutMs }),
      ...(anonymousTtlMs === undefined ? {} : { anonymousTtlMs }),
    },
    compile: {
      ...(compileTimeoutMs === undefined ? {} : { timeoutMs: compileTimeoutMs }),
      ...(compileTimeoutPerKiB === undefined ? {} : { timeoutMsPerKiB: compileTimeoutPerKiB }),
      ...(compileWorkers === undefined ? {} : { maxConcurrent: compileWorkers }),
      ...(compileMemoryMb === undefined ? {} : { maxBinaryenHeapMb: compileMemoryMb }),
    },
    ...(crash ? { faults: crashAt(crash) } : {}),
  });
  // Load sharing with the peers: the runtime/balance policy, live (docs/load-sharing.md).
  if (balance) balancerOf(node.node).configure(balance);
  // Listen for the stop signals before announcing the node: a script that reads the announcement and
  // at once sends SIGTERM must get a clean stop (data directory released), not the default kill.
  const stopped = new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  const info = { node: node.identity.nodeId, url: node.url, publicKey: node.identity.publicKeyPem, dataDir: values["data-dir"], recovered: node.recovered };
  io.stdout.write(values.json ? `${JSON.stringify(info)}\n` : `ferry node ${info.node} listening on ${info.url} (data in ${info.dataDir}; resumed ${node.recovered.resumed}, restarted ${node.recovered.restarted} jobs)
Try it (another terminal):
  node bin/ferry.js keygen --out me.json
  node bin/ferry.js admin add-client --data-dir ${info.dataDir} --public-key me.json
  node bin/ferry.js upload build/guests/sieve.wasm --key me.json --node ${info.url} --public
  node bin/ferry.js submit <code-hash> --args 1000000 --wait 10000 --node ${info.url}
API: ${info.url}/openapi.json   Stop: Ctrl-C (running jobs resume from their checkpoints on the next start)
`);
  await stopped;
  await node.close();
  return 0;
}

/** --balance POLICY and its thresholds; the thresholds count queued + running jobs. */
function balanceOptions(values: Record<string, string | boolean | undefined>): LiveBalanceOptions | undefined {
  const kind = values.balance as string | undefined;
  if (kind === undefined) return undefined;
  if (!(POLICY_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--balance must be one of ${POLICY_KINDS.join(", ")}, got "${kind}"`);
  const count = (flag: string): number | undefined => {
    const text = values[flag] as string | undefined;
    return text === "0" ? 0 : optionalInt(`--${flag}`, text);
  };
  return {
    policy: {
      kind: kind as PolicyKind,
      lower: count("balance-lower") ?? 1,
      upper: count("balance-upper") ?? 4,
      maxPolls: count("balance-max-polls") ?? 3,
      retryInterval: count("balance-interval-ms") ?? 500,
    },
  };
}

/** A JSON file: [{ "nodeId", "url", "publicKey" (PEM) }, …]. */
function readPeers(path: string): PeerConfig[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UsageError(`--peers ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!Array.isArray(parsed)) throw new UsageError(`--peers ${path}: expected a JSON array of { nodeId, url, publicKey }`);
  return parsed.map((p: unknown, i) => {
    const peer = p as Partial<PeerConfig>;
    if (typeof peer?.nodeId !== "string" || typeof peer.url !== "string" || typeof peer.publicKey !== "string") {
      throw new UsageError(`--peers ${path}: entry ${i} needs string nodeId, url and publicKey`);
    }
    // Each entry's key and address checked now, naming the entry (startNode checks them again).
    try {
      parsePublicKey(peer.publicKey);
      checkPeerUrl(peer.url);
    } catch (e) {
      throw new UsageError(`--peers ${path}: entry ${i} (${peer.nodeId}): ${e instanceof ServerError ? (e.detail ?? e.message) : String(e)}`);
    }
    return { nodeId: peer.nodeId, url: peer.url, publicKey: peer.publicKey };
  });
}
