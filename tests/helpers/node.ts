// Real Ferry nodes for tests: a temp data directory, a server on 127.0.0.1 with an OS-chosen port,
// and a registered client with its signing key.
import { existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSigningKey, type SigningKey } from "../../server/auth/index.js";
import { FerryClient } from "../../server/client.js";
import { startNode, type NodeServerOptions, type RunningNode } from "../../server/node-server.js";
import type { Quotas } from "../../server/auth/index.js";
import { sharedModuleCacheDir } from "./shared-cache.js";

export interface TestNode {
  running: RunningNode;
  dataDir: string;
  key: SigningKey;
  /** Signed as the registered client. */
  client: FerryClient;
  /** Unsigned. */
  anonymous: FerryClient;
  close(): Promise<void>;
}

export function tempDir(prefix = "ferry-node-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Point `dataDir`'s module cache (<data-dir>/module-cache) at the run's shared one (shared-cache.ts),
 * so a node in a test whose subject is not compiling instruments nothing another node (or an earlier
 * run) has: a fresh node otherwise starts a compile worker and loads Binaryen for its first module.
 * Call before the node first opens `dataDir`; never in tests about compiling or the cache.
 */
export function shareModuleCache(dataDir: string): void {
  const link = join(dataDir, "module-cache");
  if (existsSync(link)) {
    // A node restarted on its data directory: shared already, or its own cache, kept as it is.
    return;
  }
  symlinkSync(sharedModuleCacheDir(), link, "dir");
}

export async function startTestNode(
  options: Partial<NodeServerOptions> & {
    quotas?: Partial<Quotas>;
    capabilities?: string[];
    key?: SigningKey;
    sharedModuleCache?: boolean;
  } = {},
): Promise<TestNode> {
  const { sharedModuleCache, ...nodeOptions } = options;
  const dataDir = options.dataDir ?? tempDir();
  if (sharedModuleCache) shareModuleCache(dataDir);
  const running = await startNode({ checkpointIntervalMs: 0, ...nodeOptions, dataDir });
  const key = options.key ?? generateSigningKey();
  if (!running.store.clients.get(key.clientId)) {
    running.store.clients.add({ publicKey: key.publicKey, quotas: options.quotas ?? {}, capabilities: options.capabilities ?? [] });
  }
  return {
    running,
    dataDir,
    key,
    client: new FerryClient({ url: running.url, key }),
    anonymous: new FerryClient({ url: running.url }),
    close: async () => {
      await running.close();
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Close each of `nodes` and remove its data directory; the list is left empty (for afterEach/afterAll). */
export async function closeNodes(nodes: TestNode[]): Promise<void> {
  for (const n of nodes.splice(0)) {
    await n.close();
    removeDir(n.dataDir);
  }
}

/** Make every one of `nodes` a peer of every other (each one's peers table names the others). */
export function makePeers(...nodes: TestNode[]): void {
  for (const x of nodes)
    for (const y of nodes)
      if (x !== y)
        x.running.store.peers.upsert({ nodeId: y.running.identity.nodeId, url: y.running.url, publicKey: y.running.identity.publicKey });
}

/** Two nodes that are each other's peers, the same client registered on both, pushed onto `nodes` (closeNodes closes them). */
export async function startPeerPair(nodes: TestNode[]): Promise<{ a: TestNode; b: TestNode }> {
  const key = generateSigningKey();
  const a = await startTestNode({ key, sharedModuleCache: true });
  const b = await startTestNode({ key, sharedModuleCache: true });
  nodes.push(a, b);
  makePeers(a, b);
  return { a, b };
}
