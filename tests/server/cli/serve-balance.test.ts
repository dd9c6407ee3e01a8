// `ferry serve --balance` with each kind of policy and its own knobs starts a node that serves and
// stops cleanly (the bad combinations are in cli-errors.test.ts: refused before the node starts).
import { afterEach, describe, expect, it } from "vitest";
import { removeDir, tempDir } from "../../helpers/node.js";
import { spawnNode, type NodeProcess } from "../../helpers/node-process.js";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function serve(serveArgs: string[]): Promise<NodeProcess> {
  const dir = tempDir("ferry-serve-balance-");
  cleanup.push(() => removeDir(dir));
  const node = await spawnNode(dir, { serveArgs });
  cleanup.push(() => node.kill());
  return node;
}

describe("ferry serve --balance", () => {
  for (const args of [
    ["--balance", "elz-sender", "--balance-threshold", "3", "--balance-max-polls", "5"],
    ["--balance", "elz-receiver"],
    ["--balance", "sender", "--balance-lower", "0", "--balance-upper", "3", "--balance-interval-ms", "200"],
  ]) {
    it(`starts, serves and stops with ${args.join(" ")}`, async () => {
      const node = await serve(args);
      const load = (await (await fetch(`${node.url}/load`)).json()) as { node: string };
      expect(load.node).toBe(node.nodeId);
      await node.stop();
    });
  }
});
