// The API fields the dashboard's jobs, job and modules pages show, over real HTTP between two real
// nodes on loopback: a job's checkpoints and execution segment (GET /jobs and GET /jobs/:id), a move
// as the receiver logs it (GET /migrations, direction "in"), and a module's imports and exports
// (GET /modules/:hash/interface) — each to the caller the API shows the job or module to, and to
// nobody else: an anonymous caller or another client gets the not-found everyone gets.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey } from "../../server/auth/index.js";
import { FerryClient } from "../../server/client.js";
import type { JobView } from "../../server/node/job-view.js";
import type { MigrationEntry } from "../../server/node/migration-log.js";
import { httpFailure } from "../helpers/errors.js";
import { closeNodes, startPeerPair, type TestNode } from "../helpers/node.js";
import { untilValue } from "../helpers/until.js";
import { TICKS } from "./ticks.js";

type Move = MigrationEntry;

describe("the fields the dashboard shows", () => {
  const nodes: TestNode[] = [];
  let a: TestNode;
  let b: TestNode;
  let stranger: FerryClient;
  let codeHash: string;
  let paused: JobView;

  beforeAll(async () => {
    ({ a, b } = await startPeerPair(nodes));
    const other = generateSigningKey();
    a.running.store.clients.add({ publicKey: other.publicKey, quotas: {}, capabilities: [] });
    stranger = new FerryClient({ url: a.running.url, key: other });
    ({ codeHash } = await a.client.uploadModule(TICKS));
    const job = await a.client.startJob({ codeHash, entry: "ticks", args: [1_000_000, 1_000_000], sandbox: "in-process" });
    paused = await a.client.pause(job.id); // a pause writes a checkpoint
  });
  afterAll(() => closeNodes(nodes));

  it("gives a job's checkpoints and execution segment in GET /jobs/:id and GET /jobs", async () => {
    const view = (await a.client.job(paused.id)) as JobView;
    expect(view.lastCheckpoint).toMatchObject({ seq: 1, delta: false });
    expect(view.lastCheckpoint!.bytes).toBeGreaterThan(0);
    // TICKS declares one page (the pages the runtime reserves ahead of a guest without its own
    // continuation struct are not the guest's memory, and not counted): one page held, the data
    // segments' page touched, frames saved because the pause stopped it inside its loops.
    expect(view.executionSegment).toEqual({
      checkpoint: 1,
      memoryPages: 1,
      memoryBytes: 65_536,
      touchedPages: 1,
      savedFrameBytes: expect.any(Number),
    });
    expect(view.executionSegment!.savedFrameBytes).toBeGreaterThan(0);
    const { jobs } = await a.client.listJobs();
    const listed = jobs.find((j) => j.id === paused.id);
    expect(listed).toMatchObject({ lastCheckpoint: view.lastCheckpoint, executionSegment: view.executionSegment });
    expect(listed).not.toHaveProperty("outputBytes");
  });

  it("never shows another client's job fields to an anonymous caller or another client", async () => {
    expect(await httpFailure(a.anonymous.request("GET", `/jobs/${paused.id}`))).toEqual({ status: 404, code: "not_found" });
    expect(await httpFailure(stranger.request("GET", `/jobs/${paused.id}`))).toEqual({ status: 404, code: "not_found" });
    expect(await httpFailure(a.anonymous.request("GET", "/jobs"))).toEqual({ status: 401, code: "unauthorized" });
    const theirs = (await (await stranger.request("GET", "/jobs")).json()) as { jobs: unknown[] };
    expect(theirs.jobs).toEqual([]);
  });

  it("logs a move on the receiving node too, with the rounds and bytes the sender logged", async () => {
    const running = await a.client.startJob({ codeHash, entry: "ticks", args: [1_000_000, 1_000_000], sandbox: "in-process" });
    await a.client.migrate(running.id, b.running.identity.nodeId, "strong");
    const owned = async (client: FerryClient) =>
      ((await (await client.request("GET", "/migrations")).json()) as { migrations: Move[] }).migrations.filter(
        (m) => m.job === running.id,
      );
    const [out] = await owned(a.client);
    // The receiver logs the move once the job runs there (the COMMIT, answered before the source's answer).
    const [moveIn] = await untilValue(async () => {
      const list = await owned(new FerryClient({ url: b.running.url, key: a.key }));
      return list.length > 0 ? list : undefined;
    }, "the receiver's log of the move");
    expect(out).toMatchObject({ direction: "out", from: a.running.identity.nodeId, to: b.running.identity.nodeId, mode: "strong" });
    expect(moveIn).toMatchObject({
      direction: "in",
      from: a.running.identity.nodeId,
      to: b.running.identity.nodeId,
      mode: "strong",
      precopyRounds: out!.precopyRounds,
      bytes: out!.bytes,
    });
    expect(out!.precopyRounds).toBeGreaterThan(0);
    expect(moveIn!.downtimeMs).toBeGreaterThanOrEqual(0);
    // Whose move it was is the owner's to know, on the receiving node as on the sending one.
    const anonymous = ((await (await fetch(`${b.running.url}/migrations`)).json()) as { migrations: Move[] }).migrations;
    expect(anonymous.filter((m) => m.direction === "in").every((m) => m.job === null)).toBe(true);
    expect(anonymous.length).toBeGreaterThan(0);
    // The job's execution segment on the receiver: the checkpoint its PREPARE stored.
    const there = (await b.client.job(running.id)) as JobView;
    expect(there.executionSegment).toMatchObject({ memoryPages: 1 });
    await b.client.cancel(running.id);
  });

  it("describes a module's imports and exports to whoever may download it", async () => {
    const description = (await (await a.client.request("GET", `/modules/${codeHash}/interface`)).json()) as Record<string, unknown>;
    expect(description).toEqual({
      codeHash,
      imports: [
        { module: "ferry", name: "output_write", kind: "func", params: ["i32", "i32"], results: [] },
        { module: "ferry", name: "log", kind: "func", params: ["i32", "i32"], results: [] },
      ],
      exports: [{ name: "ticks", kind: "func", params: ["i32", "i32"], results: ["i32"] }],
    });
    // Private: the same 404 as its bytes (and as a module that does not exist) to everyone else.
    for (const who of [a.anonymous, stranger]) {
      expect(await httpFailure(who.request("GET", `/modules/${codeHash}/interface`))).toEqual({ status: 404, code: "not_found" });
      expect(await httpFailure(who.request("GET", `/modules/${codeHash}`))).toEqual({ status: 404, code: "not_found" });
    }
    expect(await httpFailure(a.client.request("GET", `/modules/${"0".repeat(64)}/interface`))).toEqual({ status: 404, code: "not_found" });
    const { codeHash: shared } = await a.client.uploadModule(TICKS, { public: true });
    expect(
      ((await (await a.anonymous.request("GET", `/modules/${shared}/interface`)).json()) as { exports: unknown[] }).exports,
    ).toHaveLength(1);
  });
});
