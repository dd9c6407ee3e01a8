// Quotas: `ferry admin update-client` changes a client's quotas and capabilities beside a running
// node (which applies them to the client's next request), with typed errors for an unknown client or
// quota; anonymous jobs get minutes of fuel by default (nbody(1e6) used to trap out_of_fuel), capped
// by a node option (`ferry serve --anonymous-fuel`), and clients' jobs a default of minutes too.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guestWasmPath } from "../../guest/catalog.js";
import * as reference from "../../guest/reference.js";
import { DEFAULT_QUOTAS, readKeyFile } from "../../server/auth/index.js";
import { FerryClient, isHttpError } from "../../server/client.js";
import { DEFAULT_NODE_LIMITS } from "../../server/node/node-limits.js";
import { ferry } from "../helpers/cli.js";
import { INFINITE_LOOP } from "../helpers/fixtures.js";
import { removeDir, shareModuleCache, startTestNode, tempDir, type TestNode } from "../helpers/node.js";
import { startedFerry, type Started } from "../helpers/ticker.js";

const dir = tempDir("ferry-quotas-cli-");
const children: Started[] = [];
let n: TestNode;
let spin: string;
let nbody: string;

beforeAll(async () => {
  n = await startTestNode({
    quotas: { maxConcurrentJobs: 3, maxMemoryPages: 512 },
    capabilities: ["reports/*:rw"],
    sharedModuleCache: true,
  });
  spin = (await n.client.uploadModule(INFINITE_LOOP, { public: true })).codeHash;
  nbody = (await n.client.uploadModule(readFileSync(guestWasmPath("nbody")), { public: true })).codeHash;
});

afterAll(async () => {
  for (const c of children) c.kill();
  await n?.close();
  if (n) removeDir(n.dataDir);
  removeDir(dir);
});

const admin = (...args: string[]) => ferry(["admin", ...args, "--data-dir", n.dataDir]);

describe("ferry admin update-client", () => {
  it("changes the quotas named, keeps the others, and the running node applies them at the next request", async () => {
    const id = n.key.clientId;
    const r = await admin("update-client", id, "--quotas", "maxConcurrentJobs=1", "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      id,
      capabilities: ["reports/*:rw"],
      quotas: { ...DEFAULT_QUOTAS, maxConcurrentJobs: 1, maxMemoryPages: 512 },
    });
    const first = await n.client.startJob({ codeHash: spin, entry: "spin", sandbox: "in-process" });
    const second = await n.client.startJob({ codeHash: spin, entry: "spin", sandbox: "in-process" }).catch((e: unknown) => e);
    expect(isHttpError(second, "quota_exceeded")).toBe(true);
    await n.client.cancel(first.id);

    // Capabilities are replaced as a whole ("" for none); JSON quotas work as for add-client.
    const caps = await admin("update-client", id, "--capabilities", "", "--quotas", '{"maxConcurrentJobs":3}', "--json");
    expect(JSON.parse(caps.stdout)).toMatchObject({ capabilities: [], quotas: { maxConcurrentJobs: 3, maxMemoryPages: 512 } });
    const listed = JSON.parse((await admin("list-clients", "--json")).stdout) as { id: string; capabilities: string[] }[];
    expect(listed.find((c) => c.id === id)).toMatchObject({ capabilities: [] });
  });

  it("refuses an unknown client or quota name with a typed error, and changes nothing", async () => {
    const before = (await admin("list-clients", "--json")).stdout;
    const unknown = await admin("update-client", "nobody", "--quotas", "maxConcurrentJobs=2");
    expect(unknown).toMatchObject({ code: 3, stderr: "ferry: error not_found: no such resource: no client nobody\n" });
    const badName = await admin("update-client", n.key.clientId, "--quotas", "maxCpu=2");
    expect(badName.code).toBe(3);
    expect(badName.stderr).toMatch(
      /^ferry: error bad_request: .*unknown quota "maxCpu" \(known: maxModuleBytes, .*maxResourceEntries\)\n$/,
    );
    const badValue = await admin("update-client", n.key.clientId, "--quotas", "maxConcurrentJobs=0");
    expect(badValue.stderr).toMatch(/quota "maxConcurrentJobs" must be a positive integer/);
    expect((await admin("update-client", n.key.clientId, "--quotas", "maxConcurrentJobs")).code).toBe(2); // not name=integer
    expect((await admin("update-client", n.key.clientId, "--capabilities", "everything")).code).toBe(3);
    expect((await admin("update-client", n.key.clientId)).code).toBe(2); // nothing to change
    expect(
      (await ferry(["admin", "update-client", n.key.clientId, "--quotas", "maxConcurrentJobs=2", "--data-dir", join(dir, "typo")])).code,
    ).toBe(2);
    expect((await admin("list-clients", "--json")).stdout).toBe(before);
  });
});

describe("fuel for minutes", () => {
  it("an anonymous nbody(1e6) runs to its end (it trapped out_of_fuel at the old 1e9 cap); a client's job gets 1e13 by default", async () => {
    expect(DEFAULT_NODE_LIMITS.maxAnonymousFuelPerJob).toBe(1e12);
    const done = await n.anonymous.startJob({ codeHash: nbody, args: [1_000_000], waitMs: 60_000 });
    const settled = done.state === "running" ? await n.anonymous.waitFor(done.id, { timeoutMs: 120_000 }) : done;
    expect(settled).toMatchObject({ state: "done", result: { status: "done", value: reference.nbody(1_000_000) } });
    expect(settled.fuelUsed).toBeGreaterThan(1e9);
    const mine = await n.client.startJob({ codeHash: spin, entry: "spin", sandbox: "in-process" });
    expect(n.running.store.jobs.get(mine.id)?.fuelLimit).toBe(DEFAULT_QUOTAS.maxFuelPerJob);
    expect(DEFAULT_QUOTAS.maxFuelPerJob).toBe(1e13);
    await n.client.cancel(mine.id);
  }, 180_000);

  it("ferry serve --anonymous-fuel N caps anonymous jobs at N", async () => {
    const data = join(dir, "capped");
    const key = join(dir, "k.json");
    expect((await ferry(["keygen", "--out", key])).code).toBe(0);
    expect((await ferry(["admin", "add-client", "--create", "--data-dir", data, "--public-key", key])).code).toBe(0);
    shareModuleCache(data); // fuel is under test here, not compiling
    expect((await ferry(["serve", "--port", "0", "--data-dir", data, "--anonymous-fuel", "0"])).code).toBe(2);
    const serve = startedFerry(["serve", "--port", "0", "--data-dir", data, "--anonymous-fuel", "5000000", "--json"], children);
    const { url } = JSON.parse(
      await new Promise<string>((resolve) => createInterface({ input: serve.child.stdout }).once("line", resolve)),
    ) as { url: string };
    const owner = new FerryClient({ url, key: readKeyFile(key) });
    const hash = (await owner.uploadModule(INFINITE_LOOP, { public: true })).codeHash;
    const anonymous = new FerryClient({ url });
    const over = await anonymous.startJob({ codeHash: hash, entry: "spin", fuelLimit: 5_000_001 }).catch((e: unknown) => e);
    expect(isHttpError(over, "quota_exceeded") && over.message).toMatch(/fuelLimit 5000001 exceeds the quota of 5000000/);
    const capped = await anonymous.startJob({ codeHash: hash, entry: "spin", waitMs: 60_000 });
    const ended = capped.state === "running" ? await anonymous.waitFor(capped.id, { timeoutMs: 60_000 }) : capped;
    expect(ended).toMatchObject({ state: "trapped", result: { status: "trapped", code: "out_of_fuel" } });
    serve.child.kill("SIGTERM");
    expect(await serve.exited).toBe(0);
  });
});
