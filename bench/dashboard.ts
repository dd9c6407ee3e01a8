// The dashboard's page-load budget (issue 15), in Debian's Chromium headless (playwright-core), on
// one real node on loopback holding FERRY_BENCH_DASHBOARD_JOBS (default 1,000) finished jobs of one
// client:
//
//  1. First render: a cold page (a new browser context: no cache, no connection) of the Cluster view,
//     from the navigation's start to the first frame in which its node table is in the DOM, read in
//     the page as performance.now() (the page's own clock, starting at navigation). Interleaved with
//     the same page's warm reload (assets revalidated by ETag: 304s). Target: cold ≤ 300 ms (median).
//  2. Jobs paged: the client's key loaded, the Jobs view drawn (GET /jobs, 50 of the 1,000), then
//     "Older →" clicked through every page, each turn timed in the page from the click to the frame
//     that shows the new page; rows in the DOM counted each time (paged: never more than 50).
//     Interleaved with the API call alone (GET /jobs?limit=50&before=…, signed, from Node), the
//     floor a page turn cannot beat. Target: a page turn ≤ 100 ms (median: a click that feels
//     instant).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { generateSigningKey, writeKeyFile } from "../server/auth/index.js";
import { FerryClient } from "../server/client.js";
import { startNode } from "../server/node-server.js";
import { check, fmtInt, fmtMs, fmtRatio, median, nowMs, printTable, type TargetCheck, watToWasm } from "./harness.js";

export interface DashboardBenchOptions {
  /** Kept rounds of each timing (default 15). */
  runs?: number;
  /** Jobs on the node (default 1,000; FERRY_BENCH_DASHBOARD_JOBS). */
  jobs?: number;
}

/** FERRY_BENCH_ONLY name. */
export const DASHBOARD_PARTS = ["dashboard"] as const;

const CHROMIUM = process.env.FERRY_CHROMIUM ?? "/usr/bin/chromium";
const CONST_WAT = `(module (func (export "main") (param $x i32) (result i32) (local.get $x)))`;

export async function runDashboardBench(o: DashboardBenchOptions = {}) {
  const runs = o.runs ?? 15;
  const jobs = o.jobs ?? Number(process.env.FERRY_BENCH_DASHBOARD_JOBS ?? 1_000);
  const started = nowMs();
  const dir = mkdtempSync(join(tmpdir(), "dashboard-bench-"));
  const node = await startNode({ dataDir: join(dir, "node"), checkpointIntervalMs: 0 });
  const key = generateSigningKey();
  node.store.clients.add({ publicKey: key.publicKey, quotas: { maxConcurrentJobs: 64 }, capabilities: [] });
  const keyFile = join(dir, "bench.key.json");
  writeKeyFile(keyFile, key);
  const client = new FerryClient({ url: node.url, key });
  let browser: Browser | undefined;
  try {
    const { codeHash } = await client.uploadModule(watToWasm(CONST_WAT));
    const made = nowMs();
    for (let i = 0; i < jobs; i += 20)
      await Promise.all(
        Array.from({ length: Math.min(20, jobs - i) }, (_, k) =>
          client.startJob({ codeHash, args: [i + k], sandbox: "in-process", waitMs: 30_000 }),
        ),
      );
    const createMs = nowMs() - made;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
    const render = await firstRender(browser, node.url, runs);
    const paging = await pagedJobs(browser, node.url, keyFile, client, runs);
    const targets: TargetCheck[] = [
      check("dashboard: first render, cold (median)", render.cold, "<=", 300, "ms"),
      check(`dashboard: a page turn of ${fmtInt(jobs)} jobs (median)`, paging.turn, "<=", 100, "ms"),
    ];
    printTable({
      title: `Dashboard in Chromium headless, one node on loopback, ${fmtInt(jobs)} jobs (created in ${fmtMs(createMs)} ms)`,
      headers: ["measure", "median ms", "p90 ms", "against (ms)", "ratio"],
      rows: [
        [
          "first render, cold page (Cluster)",
          fmtMs(render.cold),
          fmtMs(render.coldP90),
          `warm reload ${fmtMs(render.warm)}`,
          fmtRatio(render.cold / render.warm),
        ],
        ["Jobs view drawn (50 of them)", fmtMs(paging.view), "", "", ""],
        [
          "page turn (Older →)",
          fmtMs(paging.turn),
          fmtMs(paging.turnP90),
          `GET /jobs alone ${fmtMs(paging.api)}`,
          fmtRatio(paging.turn / paging.api),
        ],
        ["rows in the DOM, most at once", String(paging.maxRows), "", "", ""],
      ],
      align: ["left", "right", "right", "left", "right"],
      notes: [`${paging.turns} page turns; first render: ${runs} cold and ${runs} warm loads, interleaved.`],
    });
    return { durationMs: nowMs() - started, jobs, createMs, render, paging, targets };
  } finally {
    await browser?.close();
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const p90 = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))] ?? Number.NaN;

/** The page's own clock when the Cluster view's node table is first in a frame. */
async function tableTime(page: Page): Promise<number> {
  const handle = await page.waitForFunction(() => (document.querySelector("main table td") ? performance.now() : null), undefined, {
    polling: "raf",
  });
  return (await handle.jsonValue()) as number;
}

async function firstRender(browser: Browser, url: string, runs: number) {
  const cold: number[] = [];
  const warm: number[] = [];
  const warmContext = await browser.newContext();
  const warmPage = await warmContext.newPage();
  await warmPage.goto(`${url}/ui/cluster`);
  for (let round = -2; round < runs; round++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${url}/ui/cluster`, { waitUntil: "commit" });
    const c = await tableTime(page);
    await context.close();
    await warmPage.reload({ waitUntil: "commit" });
    const w = await tableTime(warmPage);
    if (round >= 0) {
      cold.push(c);
      warm.push(w);
    }
  }
  await warmContext.close();
  return { cold: median(cold), coldP90: p90(cold), warm: median(warm), samples: { cold, warm } };
}

async function pagedJobs(browser: Browser, url: string, keyFile: string, client: FerryClient, runs: number) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${url}/ui/cluster`);
  await page.setInputFiles("#keyfile", keyFile);
  await page.locator("#whoami", { hasText: "signed in" }).waitFor();
  const views: number[] = [];
  const turns: number[] = [];
  const api: number[] = [];
  let maxRows = 0;
  for (let round = 0; round < Math.max(1, Math.ceil(runs / 5)); round++) {
    views.push(await page.evaluate(clickAndWait, { selector: 'nav a[data-nav="jobs"]', until: "page 1" }));
    let before: string | null = null;
    for (let n = 2; ; n++) {
      const disabled = await page.getByRole("button", { name: "Older →" }).isDisabled();
      if (disabled) break;
      turns.push(await page.evaluate(clickAndWait, { button: "Older →", until: `page ${n}` }));
      maxRows = Math.max(maxRows, await page.locator("main tbody tr").count());
      const t0 = nowMs();
      const answer: { next: string | null } = await client.listJobs({ limit: 50, ...(before ? { before } : {}) });
      api.push(nowMs() - t0);
      before = answer.next;
    }
  }
  await context.close();
  return {
    view: median(views),
    turn: median(turns),
    turnP90: p90(turns),
    api: median(api),
    turns: turns.length,
    maxRows,
    samples: { views, turns, api },
  };
}

/** In the page: click a link or button, then resolve with the ms until a frame shows the label `until`. */
function clickAndWait(o: { selector?: string; button?: string; until: string }): Promise<number> {
  const t0 = performance.now();
  const target = o.selector
    ? document.querySelector<HTMLElement>(o.selector)
    : Array.from(document.querySelectorAll("button")).find((b) => b.textContent === o.button);
  target?.click();
  return new Promise((resolve) => {
    const look = () => {
      const shown = Array.from(document.querySelectorAll("main span.muted")).some((s) => s.textContent === o.until);
      if (shown) resolve(performance.now() - t0);
      else requestAnimationFrame(look);
    };
    requestAnimationFrame(look);
  });
}
