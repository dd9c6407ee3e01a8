// The dashboard in a real browser (headless Chromium, playwright-core): two nodes as peers; a client
// uploads a module and starts a long job from the page, watches its output stream, pauses it,
// migrates it to the peer with a click, follows it there and resumes it to its value (the module's
// imports and exports, the job's execution segment, memory column and move in shown on the way); an anonymous
// viewer and another client see no more than the API shows them; the keyboard reaches every action;
// no page logs an error. FERRY_SCREENSHOTS=<dir> also saves the README's screenshots there.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { generateSigningKey, writeKeyFile } from "../../server/auth/index.js";
import { removeDir, startTestNode, type TestNode, makePeers } from "../helpers/node.js";
import { wat } from "../helpers/wat.js";
import { consoleErrors, launchBrowser, signIn as signInAs, SKIP_BROWSER } from "./browser.js";
import { TICKS, TICKS_VALUE } from "./ticks.js";

const shots = process.env.FERRY_SCREENSHOTS;

describe.skipIf(SKIP_BROWSER)("the dashboard in Chromium", () => {
  const dir = mkdtempSync(join(tmpdir(), "dashboard-test-"));
  const key = generateSigningKey();
  const other = generateSigningKey();
  const keyFile = join(dir, "alice.key.json");
  const otherKeyFile = join(dir, "bob.key.json");
  const wasmFile = join(dir, "ticks.wasm");
  let a: TestNode;
  let b: TestNode;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];

  async function open(url: string): Promise<Page> {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    const mine = consoleErrors(page);
    page.on("close", () => errors.push(...mine));
    await page.goto(url);
    return page;
  }

  const signIn = (page: Page, file = keyFile, who = key) => signInAs(page, file, who.clientId);

  beforeAll(async () => {
    writeKeyFile(keyFile, key);
    writeKeyFile(otherKeyFile, other);
    writeFileSync(wasmFile, TICKS);
    const quotas = { maxFuelPerJob: 1e13, maxConcurrentJobs: 8 };
    a = await startTestNode({ key, quotas, sharedModuleCache: true });
    b = await startTestNode({ key, quotas, sharedModuleCache: true });
    a.running.store.clients.add({ publicKey: other.publicKey, quotas: {}, capabilities: [] });
    makePeers(a, b);
    // B's compile pool up before the job arrives there (a fresh node's first compile starts a worker).
    await b.client.uploadModule(wat(`(module (func (export "warm")))`));
    browser = await launchBrowser();
  });

  beforeEach(() => {
    errors.length = 0;
  });

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    for (const n of [a, b]) if (n) await n.close();
    for (const n of [a, b]) if (n) removeDir(n.dataDir);
    removeDir(dir);
  });

  it("runs a job from the page, streams its output, migrates it with a click and finishes it on the peer", async () => {
    const page = await open(`${a.running.url}/`);
    const peerId = b.running.identity.nodeId;
    await page.getByRole("heading", { name: "Cluster" }).waitFor();
    await page.locator("td", { hasText: peerId }).first().waitFor();
    await signIn(page);

    await page.getByRole("link", { name: "Modules" }).click();
    await page.setInputFiles("#module-file", wasmFile);
    await page.getByRole("button", { name: "Upload" }).click();
    const hash = (await page.locator("#uploaded-hash").textContent()) ?? "";
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    await page.locator("#module-list code", { hasText: hash }).waitFor();
    // Its imports and exports (GET /modules/:hash/interface), opened from the row.
    await page.locator("#module-list summary", { hasText: "2 imports, 1 exports" }).first().click();
    await page.locator("#module-list li", { hasText: "ticks(i32, i32) → i32" }).first().waitFor();

    await page.getByRole("link", { name: "start a job with it" }).click();
    await page.getByLabel("Entry").fill("ticks");
    await page.getByLabel("Arguments").fill("300, 20000000");
    await page.getByLabel("Sandbox").selectOption("in-process");
    await page.getByRole("button", { name: "Start job" }).click();
    await page.locator("#job-state").waitFor();
    const jobId = decodeURIComponent(new URL(page.url()).pathname.split("/").pop() ?? "");
    expect(a.running.store.jobs.get(jobId)?.owner).toBe(key.clientId);

    // Output streams in over the event stream while the job runs.
    await page.locator("#output", { hasText: "tick 2" }).waitFor();
    await page.getByRole("button", { name: "Pause" }).click();
    await page.locator("#job-state", { hasText: "paused" }).waitFor();
    // The pause's checkpoint: the execution segment it held (one page of memory, frames saved mid-loop).
    await page.locator("#exec-segment", { hasText: "64.0 KiB (1 pages of 64 KiB" }).waitFor();
    if (shots) await page.screenshot({ path: join(shots, "dashboard-job-paused.png"), fullPage: true });
    await page.locator("#migrate-peer").selectOption(peerId);
    await page.getByRole("button", { name: "Migrate" }).click();
    await page.locator("#job-state", { hasText: "migrated" }).waitFor();
    await page.locator("li", { hasText: `strong migration ${a.running.identity.nodeId} → ${peerId}` }).waitFor();
    if (shots) await page.screenshot({ path: join(shots, "dashboard-job-migrated.png"), fullPage: true });

    // The peer's own dashboard (another origin: the key is loaded again, it never leaves a page).
    await page.locator("#moved-to").click();
    await page.waitForURL(`${b.running.url}/ui/jobs/${jobId}`);
    await signIn(page);
    await page.locator("#job-state", { hasText: "paused" }).waitFor();
    // The receiver's history names the move in (its log, GET /migrations direction "in").
    await page.locator("li", { hasText: `migrated in from ${a.running.identity.nodeId} (strong` }).waitFor();
    await page.getByRole("button", { name: "Resume" }).click();
    await page.locator("#job-state", { hasText: "done" }).waitFor({ timeout: 120_000 });
    await expect.poll(() => page.locator("#job-result").textContent()).toBe(`done: ${TICKS_VALUE}`);
    await page.locator("#output", { hasText: "tick 300" }).waitFor();
    if (shots) await page.screenshot({ path: join(shots, "dashboard-job.png"), fullPage: true });

    await page.goto(`${a.running.url}/ui/migrations`);
    await signIn(page);
    await page.locator("#migration-feed a", { hasText: jobId }).waitFor();
    if (shots) await page.screenshot({ path: join(shots, "dashboard-migrations.png"), fullPage: true });
    if (shots) await busyCluster(a, b);
    await page.goto(`${a.running.url}/ui/cluster`);
    // A line per node: this one's and its peer's (read cross-origin from the peer's public /load).
    await page
      .locator("td", { hasText: `${peerId}` })
      .first()
      .waitFor();
    await expect.poll(() => page.locator("svg.chart polyline").count(), { timeout: 30_000 }).toBe(2);
    if (shots) {
      // A few minutes' worth of points would take minutes: twenty seconds of them show the lines.
      await expect
        .poll(
          () =>
            page
              .locator("svg.chart polyline")
              .first()
              .getAttribute("points")
              .then((p) => (p ?? "").split(" ").length),
          { timeout: 60_000 },
        )
        .toBeGreaterThan(20);
      await page.screenshot({ path: join(shots, "dashboard-cluster.png"), fullPage: true });
      a.running.balancer.stop();
      for (const n of [a, b]) for (const j of (await n.client.listJobs({ state: ["running", "queued"] })).jobs) await n.client.cancel(j.id);
    }
    await page.close();
    // The only errors: the peer's answer to the page before the key was loaded there (alice's job is not anonymous).
    expect(errors.filter((e) => e !== `404 GET /jobs/${jobId}`)).toEqual([]);
  });

  it("shows an anonymous viewer and another client no more than the API does", async () => {
    const secret = wat(`(module (func (export "main") (result i32) (i32.const 41)))`);
    const { codeHash } = await a.client.uploadModule(secret, { public: false });
    const job = await a.client.startJob({ codeHash, sandbox: "in-process", waitMs: 30_000 });
    // A move whose job is alice's, on the feed an anonymous viewer reads.
    const moving = await a.client.startJob({
      codeHash: (await a.client.uploadModule(TICKS)).codeHash,
      entry: "ticks",
      args: [1_000_000, 3_000_000],
      sandbox: "in-process",
    });
    await a.client.pause(moving.id);
    await a.client.migrate(moving.id, b.running.identity.nodeId);
    await b.client.cancel(moving.id);
    const page = await open(`${a.running.url}/ui/modules`);
    await page.locator("#module-list").waitFor();
    await page.locator("#module-list", { hasText: /No modules|code hash/ }).waitFor();
    expect(await page.locator("#module-list").textContent()).not.toContain(codeHash);
    await page.getByRole("link", { name: "Jobs" }).click();
    await page.locator("main", { hasText: "Listing jobs needs a signed request" }).waitFor();
    await page.getByLabel("Job id").fill(job.id);
    await page.getByRole("button", { name: "Open job" }).click();
    await page.locator("#status", { hasText: "no job" }).waitFor();
    expect(await page.locator("#job-state").count()).toBe(0);
    // The migrations feed names no job to a viewer who does not own it.
    await page.getByRole("link", { name: "Migrations" }).click();
    await page.locator("#migration-feed td", { hasText: "strong" }).first().waitFor();
    expect(await page.locator("#migration-feed a").count()).toBe(0);

    // Another client: its own (empty) listing, and alice's job is not found.
    await signIn(page, otherKeyFile, other);
    await page.getByRole("link", { name: "Jobs" }).click();
    await page.locator("main", { hasText: "No jobs." }).waitFor();
    await page.getByRole("link", { name: "Modules" }).click();
    await page.locator("#module-list", { hasText: /No modules|code hash/ }).waitFor();
    expect(await page.locator("#module-list").textContent()).not.toContain(codeHash);
    await page.goto(`${a.running.url}/ui/jobs/${job.id}`);
    await page.locator("#status", { hasText: "no job" }).waitFor();
    await page.close();
    // The API's 404s for alice's job are all the errors there are (the page shows them, the browser logs them).
    expect(errors.filter((e) => !e.startsWith(`404 GET /jobs/${job.id}`))).toEqual([]);
  });

  it("lets the keyboard reach every action", async () => {
    const { codeHash } = await a.client.uploadModule(TICKS);
    const job = await a.client.startJob({ codeHash, entry: "ticks", args: [1_000_000, 3_000_000], sandbox: "in-process" });
    await a.client.pause(job.id);
    const page = await open(`${a.running.url}/ui/jobs/${job.id}`);
    await signIn(page);
    await page.locator("#migrate-peer").waitFor();
    const reached = async (): Promise<string[]> => {
      const seen: string[] = [];
      await page.locator("body").focus();
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press("Tab");
        seen.push(
          await page.evaluate(() => {
            const el = document.activeElement as HTMLElement | null;
            return el ? `${el.tagName.toLowerCase()}:${el.id || el.getAttribute("aria-label") || el.textContent?.trim()}` : "";
          }),
        );
      }
      return seen;
    };
    const onJob = await reached();
    for (const want of [
      "a:Cluster",
      "a:Jobs",
      "a:Migrations",
      "a:Modules",
      "input:keyfile",
      "button:forget",
      "button:Resume",
      "select:migrate-peer",
      "select:migrate-mode",
      "button:Migrate",
      "button:Cancel",
      "button:Download snapshot",
    ])
      expect(onJob).toContain(want);
    await page.getByRole("link", { name: "Modules" }).click();
    await page.locator("#module-file").waitFor();
    expect(await reached()).toEqual(expect.arrayContaining(["input:module-file", "input:module-public", "button:Upload"]));
    await page.getByRole("link", { name: "Jobs" }).click();
    await page.locator("#state-filter").waitFor();
    // The paused job's row: its memory and checkpoints (from GET /jobs).
    await page.locator("tr", { hasText: job.id }).locator("td", { hasText: "64.0 KiB" }).waitFor();
    expect(await reached()).toEqual(expect.arrayContaining(["button:Start job", "button:Open job", "select:state-filter"]));
    await a.client.cancel(job.id);
    await page.close();
    // The page opened before the key was loaded: the API's 404 for alice's job to an anonymous caller.
    expect(errors.filter((e) => e !== `404 GET /jobs/${job.id}`)).toEqual([]);
  });
});

/** Screenshots only: load on both nodes (jobs of their own, which the balancer may not move) and a sender policy on a. */
async function busyCluster(a: TestNode, b: TestNode): Promise<void> {
  a.running.balancer.configure({ policy: { kind: "sender", lower: 1, upper: 4, retryInterval: 2_000 } });
  const start = async (n: TestNode, count: number) => {
    const { codeHash } = await n.client.uploadModule(TICKS);
    for (let i = 0; i < count; i++)
      await n.client.startJob({ codeHash, entry: "ticks", args: [1_000_000, 20_000_000], sandbox: "in-process" });
  };
  await start(a, 6);
  await start(b, 1);
}
