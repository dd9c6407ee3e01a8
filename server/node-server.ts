// Starts a Ferry node: opens the data directory (store + node identity), recovers the jobs it owned,
// and serves the HTTP API on a real socket. `ferry serve`, `npm start` and the tests all use this.

import { serve, type ServerType } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { AUTH_HEADERS, loadOrCreateNodeIdentity, parsePublicKey, verifyRequestHead, type NodeIdentity } from "./auth/index.js";
import { DEFAULT_MAX_MEMORY_PAGES } from "../runtime/index.js";
import { ServerError } from "./errors.js";
import type { FaultHook } from "./migration/faults.js";
import { checkPeerUrl } from "./migration/peer-url.js";
import { maxTransferBytes } from "./migration/transfer-header.js";
import type { UploadGateOptions } from "./http/upload-gate.js";
import { uploadGates, type UploadGates } from "./http/intake.js";
import { migrationRoutes } from "./migration/routes.js";
import { balanceRoutes } from "./balance/routes.js";
import { peerRequest } from "./migration/peer-link.js";
import { createApp } from "./http/app.js";
import { FerryNode, type FerryNodeOptions } from "./node/ferry-node.js";
import { Store, type StoreOptions } from "./store/store.js";

export interface NodeServerOptions {
  dataDir: string;
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
  /** Tests only: failures injected into the migration protocol. */
  faults?: FaultHook;
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

export interface PeerConfig {
  nodeId: string;
  url: string;
  publicKey: string;
}

export interface RunningNode {
  url: string;
  port: number;
  node: FerryNode;
  identity: NodeIdentity;
  store: Store;
  recovered: { resumed: number; restarted: number };
  /** Large bodies being received now (peer transfers, client uploads), under their caps. */
  uploads: UploadGates;
  close(): Promise<void>;
}

export async function startNode(options: NodeServerOptions): Promise<RunningNode> {
  // synchronous "normal" by default: every commit survives a process crash (kill -9); a power cut may
  // lose the last moments of job progress, never a migration's prepared job or decision (fsynced).
  const store = Store.open(options.dataDir, { synchronous: "normal", ...options.store });
  const identity = loadOrCreateNodeIdentity(options.dataDir);
  // Configured peers are added; a known peer keeps the address it last announced (/peer/hello),
  // which is newer than a configuration file written before it restarted.
  for (const peer of options.peers ?? []) {
    try {
      checkPeerUrl(peer.url);
    } catch (e) {
      store.close();
      throw new ServerError("bad_request", `peer ${peer.nodeId}: ${e instanceof ServerError ? e.detail : String(e)}`, { cause: e });
    }
    const known = store.peers.get(peer.nodeId);
    const publicKey = parsePublicKey(peer.publicKey);
    if (!known || parsePublicKey(known.publicKey).equals(publicKey) === false) store.peers.upsert({ nodeId: peer.nodeId, url: peer.url, publicKey });
  }
  let node: FerryNode;
  try {
    node = new FerryNode({
      store,
      nodeId: identity.nodeId,
      identity,
      ...(options.faults ? { faults: options.faults } : {}),
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
  } catch (e) {
    store.close(); // bad options: nothing was started, and the store is released
    throw e;
  }
  const recovered = await node.recover();
  const uploads = uploadGates(options.peerUploads, options.clientUploads);
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
    extend: (app) => {
      migrationRoutes(app, node, store);
      balanceRoutes(app, node, store, identity);
    },
  });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: options.port ?? 0, hostname: options.host ?? "127.0.0.1" }, () => resolve(s));
  });
  const address = server.address() as AddressInfo;
  const host = options.host ?? "127.0.0.1";
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`;
  // Tell every peer where this node now listens (a restart may have moved it); best effort.
  for (const peer of store.peers.list()) {
    void peerRequest(identity, peer, "POST", "/peer/hello", new TextEncoder().encode(JSON.stringify({ url })), { timeoutMs: 5_000 }).catch(() => undefined);
  }
  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    node,
    identity,
    store,
    recovered,
    uploads,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await node.close();
        store.close();
      })()),
  };
}
