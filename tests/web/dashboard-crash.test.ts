// The dashboard across a crash: a node in a child process runs a client's long job with periodic
// checkpoints; the job's page shows a checkpoint; the node is killed with SIGKILL and restarted on its
// data directory; the page (reloaded at the node's new address) shows the job resumed from that
// checkpoint, and it finishes with the right value.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey, writeKeyFile } from "../../server/auth/index.js";
import { FerryClient } from "../../server/client.js";
import { Store } from "../../server/store/store.js";
import { removeDir, shareModuleCache, tempDir } from "../helpers/node.js";
import { spawnNode, type NodeProcess } from "../helpers/node-process.js";
import { consoleErrors, launchBrowser, signIn, SKIP_BROWSER } from "./browser.js";
import { TICKS } from "./ticks.js";

describe.skipIf(SKIP_BROWSER)("the dashboard across kill -9", () => {
  const key = generateSigningKey();
  const dir = tempDir("dashboard-crash-");
  const dataDir = join(dir, "node");
  const keyFile = join(dir, "alice.key.json");
  let browser: Browser;
  const nodes: NodeProcess[] = [];

  beforeAll(async () => {
    writeKeyFile(keyFile, key);
    mkdirSync(dataDir);
    shareModuleCache(dataDir);
    using store = Store.open(dataDir);
    store.clients.add({ publicKey: key.publicKey, quotas: { maxFuelPerJob: 1e13 } });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    for (const n of nodes) await n.kill();
    removeDir(dir);
  });

  it("shows the checkpoint a job resumes from after the node is killed and restarted", async () => {
    let node = await spawnNode(dataDir, { checkpointIntervalMs: 200 });
    nodes.push(node);
    const client = new FerryClient({ url: node.url, key });
    const { codeHash } = await client.uploadModule(TICKS);
    const job = await client.startJob({ codeHash, entry: "ticks", args: [400, 20_000_000], sandbox: "in-process" });
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = consoleErrors(page);
    await page.goto(`${node.url}/ui/jobs/${job.id}`);
    await signIn(page, keyFile, key.clientId);
    const checkpoint = page.locator("dd", { hasText: /^#\d+ at fuel/ });
    await checkpoint.waitFor();
    expect(await page.locator("#job-state").textContent()).toBe("running");

    await node.kill();
    node = await spawnNode(dataDir, { checkpointIntervalMs: 200 });
    nodes.push(node);
    expect(node.recovered.resumed).toBe(1);
    await page.goto(`${node.url}/ui/jobs/${job.id}`);
    await signIn(page, keyFile, key.clientId);
    await page.locator("li", { hasText: /checkpoint #\d+/ }).waitFor();
    await page.locator("#job-state", { hasText: "done" }).waitFor({ timeout: 120_000 });
    await expect.poll(() => page.locator("#job-result").textContent()).toBe(`done: ${400 * 7}`);
    await context.close();
    // The first page's event stream broke when its node died; nothing else went wrong. The 404s are
    // the job's page read before the key was loaded (it is not an anonymous job).
    expect(errors.filter((e) => e !== `404 GET /jobs/${job.id}`)).toEqual([]);
  });
});
