// The dashboard as the node serves it, over real HTTP (no browser): the shell's headers (a CSP that
// allows no inline script, the peers' origins to read from), assets with ETags and 304s, and the read
// endpoints the pages use — GET /migrations (job ids to their owners only), GET /balance/recent, and
// the public reads other origins may make (and the signed ones they may not).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey } from "../../server/auth/index.js";
import { FerryClient } from "../../server/client.js";
import { httpFailure } from "../helpers/errors.js";
import { closeNodes, startPeerPair, type TestNode } from "../helpers/node.js";
import { TICKS } from "./ticks.js";

describe("the dashboard's pages, assets and reads", () => {
  const nodes: TestNode[] = [];
  let a: TestNode;
  let b: TestNode;
  let moved: string;

  beforeAll(async () => {
    ({ a, b } = await startPeerPair(nodes));
    const { codeHash } = await a.client.uploadModule(TICKS);
    const job = await a.client.startJob({ codeHash, entry: "ticks", args: [1_000_000, 1_000_000], sandbox: "in-process" });
    await a.client.pause(job.id);
    await a.client.migrate(job.id, b.running.identity.nodeId);
    await b.client.cancel(job.id);
    moved = job.id;
  });
  afterAll(() => closeNodes(nodes));

  it("serves the shell with a CSP that allows no inline script and names the peers' origins", async () => {
    for (const path of ["/", "/ui/cluster", "/ui/jobs/some-id"]) {
      const r = await fetch(`${a.running.url}${path}`);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^text\/html/);
      const policy = r.headers.get("content-security-policy") ?? "";
      expect(policy).toContain("script-src 'self'");
      expect(policy).not.toContain("unsafe-inline");
      expect(policy).toContain(`connect-src 'self' ${new URL(b.running.url).origin}`);
      const html = await r.text();
      expect(html).toContain(a.running.identity.nodeId);
      // Every script has a src: none is inline.
      expect(html.match(/<script\b[^>]*>/g)?.every((tag) => / src="\/ui\/assets\//.test(tag))).toBe(true);
    }
  });

  it("serves assets with an ETag and answers a revalidation with 304", async () => {
    const r = await fetch(`${a.running.url}/ui/assets/main.js`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/javascript/);
    const etag = r.headers.get("etag");
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(r.headers.get("cache-control")).toBe("no-cache");
    const again = await fetch(`${a.running.url}/ui/assets/main.js`, { headers: { "if-none-match": etag ?? "" } });
    expect(again.status).toBe(304);
    expect((await fetch(`${a.running.url}/ui/assets/pages/job.js`)).status).toBe(200);
    // Names are looked up in memory, never on disk: a path out of the directory is just not there.
    const missing = await fetch(`${a.running.url}/ui/assets/..%2F..%2Fnode-key.json`);
    expect(missing.status).toBe(404);
    expect((await fetch(`${a.running.url}/ui/assets/nope.js`)).status).toBe(404);
  });

  it("lists a move with its job's id for the owner only", async () => {
    const own = await a.client.request("GET", "/migrations");
    const mine = (await own.json()) as { node: string; migrations: Array<Record<string, unknown>> };
    expect(mine.node).toBe(a.running.identity.nodeId);
    expect(mine.migrations[0]).toMatchObject({
      job: moved,
      from: a.running.identity.nodeId,
      to: b.running.identity.nodeId,
      mode: "strong",
    });
    expect(mine.migrations[0]!.downtimeMs).toBeGreaterThanOrEqual(0);
    expect(mine.migrations[0]!.bytes).toBeGreaterThan(0);
    const anonymous = (await (await fetch(`${a.running.url}/migrations`)).json()) as typeof mine;
    expect(anonymous.migrations[0]).toMatchObject({ job: null, to: b.running.identity.nodeId });
    const stranger = generateSigningKey();
    a.running.store.clients.add({ publicKey: stranger.publicKey, quotas: {}, capabilities: [] });
    const other = (await (
      await new FerryClient({ url: a.running.url, key: stranger }).request("GET", "/migrations")
    ).json()) as typeof mine;
    expect(other.migrations[0]!.job).toBeNull();
    expect(await httpFailure(a.client.request("GET", "/migrations?limit=0"))).toEqual({ status: 400, code: "bad_request" });
    expect(await httpFailure(a.client.request("GET", "/migrations?since=1"))).toEqual({ status: 400, code: "bad_request" });
  });

  it("reports the balancer's settings and recent polls", async () => {
    const idle = (await (await fetch(`${a.running.url}/balance/recent`)).json()) as Record<string, unknown>;
    expect(idle).toMatchObject({ enabled: false, thresholds: null, polls: [] });
    a.running.balancer.configure({ policy: { kind: "sender", lower: 1, upper: 4, retryInterval: 60_000 } });
    try {
      const on = (await (await fetch(`${a.running.url}/balance/recent`)).json()) as Record<string, unknown>;
      expect(on).toMatchObject({ enabled: true, policy: "sender", metric: "ready-queue", thresholds: { lower: 1, upper: 4 } });
      expect(on.members).toEqual([a.running.identity.nodeId, b.running.identity.nodeId].sort());
    } finally {
      a.running.balancer.stop();
    }
  });

  it("lets other origins read public answers, never signed ones", async () => {
    const origin = { origin: "http://127.0.0.1:1" };
    for (const path of ["/load", "/healthz", "/peers", "/migrations", "/balance/recent"]) {
      const r = await fetch(`${a.running.url}${path}`, { headers: origin });
      expect(r.headers.get("access-control-allow-origin"), path).toBe("*");
    }
    const signed = await a.client.request("GET", "/migrations");
    expect(signed.headers.get("access-control-allow-origin")).toBeNull();
    expect((await fetch(`${a.running.url}/openapi.json`, { headers: origin })).headers.get("access-control-allow-origin")).toBeNull();
  });
});
