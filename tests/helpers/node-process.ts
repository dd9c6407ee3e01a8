// Ferry nodes as real child processes (`ferry serve`), so tests can kill -9 them and restart them
// on the same data directory.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { findRepoRoot } from "../../guest/catalog.js";

export interface NodeProcess {
  child: ChildProcess;
  url: string;
  nodeId: string;
  publicKey: string;
  /** What the node's start-up recovery did with the jobs it owned. */
  recovered: { resumed: number; restarted: number };
  /** Settles when the process has exited (by itself, or killed). */
  exited: Promise<void>;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM, and wait for a clean exit. */
  stop(): Promise<void>;
}

export async function spawnNode(
  dataDir: string,
  options: { crashAt?: string; peersFile?: string; checkpointIntervalMs?: number; serveArgs?: readonly string[] } = {},
): Promise<NodeProcess> {
  const bin = join(findRepoRoot(), "bin", "ferry.js");
  const args = [
    bin,
    "serve",
    "--port",
    "0",
    "--data-dir",
    dataDir,
    "--json",
    "--checkpoint-interval-ms",
    String(options.checkpointIntervalMs ?? 100),
  ];
  if (options.peersFile) args.push("--peers", options.peersFile);
  if (options.serveArgs) args.push(...options.serveArgs);
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...(options.crashAt ? { FERRY_CRASH_AT: options.crashAt } : {}) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once("line", resolve);
    child.once("exit", (code, signal) => reject(new Error(`ferry serve exited (${code ?? signal}) before listening: ${stderr}`)));
  });
  const info = JSON.parse(line) as { nodeId: string; url: string; publicKey: string; recovered: { resumed: number; restarted: number } };
  return {
    child,
    url: info.url,
    nodeId: info.nodeId,
    publicKey: info.publicKey,
    recovered: info.recovered,
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
