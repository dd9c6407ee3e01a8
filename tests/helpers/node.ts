// Real Ferry nodes for tests: a temp data directory, a server on 127.0.0.1 with an OS-chosen port,
// and a registered client with its signing key.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSigningKey, type SigningKey } from "../../server/auth/index.js";
import { FerryClient } from "../../server/client.js";
import { startNode, type NodeServerOptions, type RunningNode } from "../../server/node-server.js";
import type { Quotas } from "../../server/auth/index.js";

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

export async function startTestNode(options: Partial<NodeServerOptions> & { quotas?: Partial<Quotas>; capabilities?: string[]; key?: SigningKey } = {}): Promise<TestNode> {
  const dataDir = options.dataDir ?? tempDir();
  const running = await startNode({ checkpointIntervalMs: 0, ...options, dataDir });
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
