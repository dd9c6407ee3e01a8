// Starts a Ferry node: claims its data directory (one owner at a time: server/data-dir.ts), binds
// its socket, opens the store and node identity, recovers the jobs it owned, and only then serves
// the HTTP API. `ferry serve`, `npm start` and the tests all use this.

import { rmSync } from "node:fs";
import { AUTH_HEADERS, loadOrCreateNodeIdentity, parsePublicKey, verifyRequestHead, type NodeIdentity } from "./auth/index.js";
import { DEFAULT_MAX_MEMORY_PAGES } from "../runtime/index.js";
import { ServerError } from "./errors.js";
import type { FaultHook } from "./migration/faults.js";
import type { TransferProbe } from "./migration/migrator.js";
import { checkPeerUrl } from "./peers/peer-url.js";
import { maxTransferBytes } from "./migration/transfer-header.js";
import type { UploadGateOptions } from "./http/upload-gate.js";
import { uploadGates, type UploadGates } from "./http/intake.js";
import { LiveBalancer } from "./balance/live-balancer.js";
import { peerRequest } from "./peers/peer-link.js";
import { createApp } from "./http/app.js";
import { FerryNode, type FerryNodeOptions } from "./node/ferry-node.js";
import { Store, type StoreOptions } from "./store/store.js";
import { lockDataDir, prepareDataDir, type DataDirLock } from "./data-dir.js";
import { listen, type Listening } from "./listen.js";
import type { PeerEntry } from "./peers/peers-file.js";

export interface NodeServerOptions {
  dataDir: string;
  /** Create the data directory if it does not exist (default true: a node's first start makes it). */
  create?: boolean;
  /** What the data directory's owner description says holds it (default "a Ferry node"). */
  owner?: string;
  /** Default 0: the OS picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  checkpointIntervalMs?: number;
  sliceBudgetMs?: number;
  maxMemoryPages?: number;
  /** Jobs running at once; more wait queued (default unlimited). */
  maxRunningJobs?: number;
  /** Share of one CPU the node's in-process guests may use (default 1). */
  cpuShare?: number;
  isolated?: FerryNodeOptions["isolated"];
  store?: StoreOptions;
  /** Peers to add to (or update in) the store: their URL and public key (PEM). */
  peers?: PeerConfig[];
  /** Test seam: failures injected into the migration protocol (server/migration/faults.ts). */
  faults?: FaultHook;
  /** Test and bench seam: called at each named instant of every transfer this node takes part in. */
  transferProbe?: TransferProbe;
  /** Iterative pre-copy before a strong migration (rounds, when a round pays). */
  precopy?: FerryNodeOptions["precopy"];
  /** Isolated slice deadline, checkpoint waits, anonymous retention (server/node/node-limits.ts). */
  limits?: FerryNodeOptions["limits"];
  /** Module compiles: workers, queue, time and memory limits (runtime/code/compile-pool.ts). */
  compile?: FerryNodeOptions["compile"];
  /** Large peer transfers (PREPARE, PRE-COPY bodies) received at once, and per peer. Default 4 and 2. */
  peerUploads?: UploadGateOptions;
  /** Large client uploads (modules, job requests) received at once, and per client. Default 8 and 2. */
  clientUploads?: UploadGateOptions;
}

/** A configured peer: an entry of the peers file (server/peers/peers-file.ts). */
export type PeerConfig = PeerEntry;

export interface RunningNode {
  url: string;
  port: number;
  node: FerryNode;
  identity: NodeIdentity;
  store: Store;
  recovered: { resumed: number; restarted: number };
  /** Large bodies being received now (peer transfers, client uploads), under their caps. */
  uploads: UploadGates;
  /** The node's load balancer: idle (refusing every probe) until configured (`ferry serve --balance`, the lab's cluster). */
  balancer: LiveBalancer;
  /** Lines for the operator from start-up (an old node-key.json rewritten, …). */
  notes: string[];
  /**
   * Add these peers, or update their address and key (`ferry serve` calls it with its peers file on
   * SIGHUP). Peers not listed stay: `ferry peers remove` removes one. All are checked before any is stored.
   */
  addPeers(peers: readonly PeerConfig[]): void;
  close(): Promise<void>;
}

export async function startNode(options: NodeServerOptions): Promise<RunningNode> {
  // Checked, claimed and bound before anything is written: a node that cannot start leaves the data
  // directory as it found it (and removes one it created), and never runs a job it then abandons.
  const { created } = prepareDataDir(options.dataDir, { create: options.create ?? true });
  const host = options.host ?? "127.0.0.1";
  let lock: DataDirLock | undefined;
  let listening: Listening | undefined;
  let store: Store | undefined;
  let node: FerryNode | undefined;
  try {
    lock = lockDataDir(options.dataDir, options.owner ?? "a Ferry node");
    listening = await listen(host, options.port ?? 0);
    // synchronous "normal" by default: every commit survives a process crash (kill -9); a power cut may
    // lose the last moments of job progress, never a migration's prepared job or decision (fsynced).
    store = Store.open(options.dataDir, { synchronous: "normal", ...options.store });
    const identity = loadOrCreateNodeIdentity(options.dataDir);
    addPeers(store, options.peers ?? []);
    node = new FerryNode({
      store,
      nodeId: identity.nodeId,
      identity,
      ...(options.faults ? { faults: options.faults } : {}),
      ...(options.transferProbe ? { transferProbe: options.transferProbe } : {}),
      ...(options.checkpointIntervalMs === undefined ? {} : { checkpointIntervalMs: options.checkpointIntervalMs }),
      ...(options.sliceBudgetMs === undefined ? {} : { sliceBudgetMs: options.sliceBudgetMs }),
      ...(options.maxMemoryPages === undefined ? {} : { maxMemoryPages: options.maxMemoryPages }),
      ...(options.maxRunningJobs === undefined ? {} : { maxRunningJobs: options.maxRunningJobs }),
      ...(options.cpuShare === undefined ? {} : { cpuShare: options.cpuShare }),
      ...(options.isolated ? { isolated: options.isolated } : {}),
      ...(options.precopy ? { precopy: options.precopy } : {}),
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.compile ? { compile: options.compile } : {}),
    });
    const recovered = await node.recover();
    return serveNode({ options, lock, listening, store, node, identity, recovered });
  } catch (e) {
    await node?.close();
    store?.close();
    await listening?.close();
    lock?.release();
    if (created) rmSync(created, { recursive: true, force: true });
    throw e;
  }
}

/** Configured peers are added; a known peer keeps the address it last announced (/peer/hello), newer than a file written before it restarted. */
function addPeers(store: Store, peers: readonly PeerConfig[]): void {
  const checked = peers.map((peer) => {
    try {
      checkPeerUrl(peer.url);
    } catch (e) {
      throw new ServerError("bad_request", `peer ${peer.nodeId}: ${e instanceof ServerError ? e.detail : String(e)}`, { cause: e });
    }
    return { peer, publicKey: parsePublicKey(peer.publicKey) };
  });
  for (const { peer, publicKey } of checked) {
    const known = store.peers.get(peer.nodeId);
    if (!known || parsePublicKey(known.publicKey).equals(publicKey) === false)
      store.peers.upsert({ nodeId: peer.nodeId, url: peer.url, publicKey });
  }
}

interface Started {
  options: NodeServerOptions;
  lock: DataDirLock;
  listening: Listening;
  store: Store;
  node: FerryNode;
  identity: NodeIdentity;
  recovered: { resumed: number; restarted: number };
}

/** The recovered node takes over the socket from the "starting" answer. */
function serveNode({ options, lock, listening, store, node, identity, recovered }: Started): RunningNode {
  const uploads = uploadGates(options.peerUploads, options.clientUploads);
  const balancer = new LiveBalancer(node, store, identity);
  const app = createApp(node, {
    // From the request's head alone, before any body is read: /peer routes must be signed by a
    // configured peer; elsewhere unsigned requests are anonymous, and a request carrying any signing
    // header must verify completely.
    authenticate: (head) => {
      if (head.path.startsWith("/peer/")) {
        const { signer, body } = verifyRequestHead({ clients: store.peers, nonces: store.nonces }, head);
        return { caller: null, peer: signer, body };
      }
      if (!AUTH_HEADERS.some((h) => head.headers.has(h))) return { caller: null, peer: null, body: undefined };
      const { signer, body } = verifyRequestHead(store, head);
      return { caller: signer, peer: null, body };
    },
    // A PREPARE or PRE-COPY carries a snapshot of at most this node's memory cap.
    bodyLimits: { snapshot: maxTransferBytes(options.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES) },
    uploadGates: uploads,
    balancer,
  });
  listening.handle(app.fetch);
  const url = listening.url;
  // Tell every peer where this node now listens (a restart may have moved it); best effort.
  for (const peer of store.peers.list()) {
    void peerRequest(identity, peer, "POST", "/peer/hello", new TextEncoder().encode(JSON.stringify({ url })), { timeoutMs: 5_000 }).catch(
      () => undefined,
    );
  }
  let closing: Promise<void> | undefined;
  return {
    url,
    port: listening.port,
    node,
    identity,
    store,
    recovered,
    uploads,
    balancer,
    notes: identity.note ? [identity.note] : [],
    addPeers: (peers) => addPeers(store, peers),
    close: () =>
      (closing ??= (async () => {
        await listening.close();
        await node.close();
        store.close();
        lock.release();
      })()),
  };
}
