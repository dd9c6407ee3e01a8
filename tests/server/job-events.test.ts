// GET /jobs/:id/events over real HTTP: the stream starts with the job's current state, carries every
// state change (pause and resume included), and ends with the final state; a finished job's stream
// is its final state alone.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FerryClient, HttpError } from "../../server/client.js";
import { INFINITE_LOOP, IO_GUEST } from "../helpers/fixtures.js";
import { removeDir, startTestNode, type TestNode } from "../helpers/node.js";

let n: TestNode;
let spin: string;
let io: string;

beforeAll(async () => {
  n = await startTestNode({ quotas: { maxConcurrentJobs: 8 }, sharedModuleCache: true });
  spin = (await n.client.uploadModule(INFINITE_LOOP, { public: true })).codeHash;
  io = (await n.client.uploadModule(IO_GUEST, { public: true })).codeHash;
});

afterAll(async () => {
  await n?.close();
  if (n) removeDir(n.dataDir);
});

interface SseEvent {
  event: string;
  data: string;
}

/** Reads a server-sent event stream as it arrives: `next()` waits for the next event, undefined at its end. */
function eventReader(response: Response): { next(): Promise<SseEvent | undefined> } {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  return {
    async next() {
      for (;;) {
        const end = buffered.indexOf("\n\n");
        if (end >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const field = (name: string) =>
            block
              .split("\n")
              .find((l) => l.startsWith(`${name}: `))
              ?.slice(name.length + 2) ?? "";
          return { event: field("event"), data: field("data") };
        }
        const chunk = await reader.read();
        if (chunk.done) return undefined;
        buffered += decoder.decode(chunk.value, { stream: true });
      }
    },
  };
}

/** The next `state` event's state (log and output events skipped). */
async function nextState(events: { next(): Promise<SseEvent | undefined> }): Promise<{ state: string; result: unknown } | undefined> {
  for (;;) {
    const e = await events.next();
    if (e === undefined) return undefined;
    if (e.event === "state") return JSON.parse(e.data) as { state: string; result: unknown };
  }
}

describe("GET /jobs/:id/events", () => {
  it("of a finished job: 200, its final state, then the stream ends", async () => {
    const job = await n.anonymous.startJob({ codeHash: io, entry: "hello", args: [2], sandbox: "in-process", waitMs: 30_000 });
    expect(job.state).toBe("done");
    const response = await n.anonymous.request("GET", `/jobs/${job.id}/events`);
    expect(response.status).toBe(200);
    const text = await response.text();
    const events = [...text.matchAll(/^event: (\w+)\ndata: (.*)$/gm)].map((m) => [m[1], JSON.parse(m[2]!)]);
    expect(events).toMatchObject([["state", { state: "done", result: { status: "done", value: 2 } }]]);
  });

  it("of a running job: running, paused, running, cancelled — every change, then the end", async () => {
    const job = await n.client.startJob({ codeHash: spin, entry: "spin", sandbox: "in-process" });
    const events = eventReader(await n.client.request("GET", `/jobs/${job.id}/events`));
    expect(await nextState(events)).toMatchObject({ state: "running" });
    await n.client.pause(job.id);
    expect(await nextState(events)).toMatchObject({ state: "paused" });
    await n.client.resume(job.id);
    expect(await nextState(events)).toMatchObject({ state: "running" });
    await n.client.cancel(job.id);
    expect(await nextState(events)).toEqual({ state: "cancelled", result: { status: "cancelled" } });
    expect(await events.next()).toBeUndefined();
  });

  it("of a paused job: starts with paused, and follows it when it resumes and is cancelled", async () => {
    const job = await n.client.startJob({ codeHash: spin, entry: "spin", sandbox: "in-process" });
    await n.client.pause(job.id);
    const events = eventReader(await n.client.request("GET", `/jobs/${job.id}/events`));
    expect(await nextState(events)).toMatchObject({ state: "paused" });
    await n.client.resume(job.id);
    expect(await nextState(events)).toMatchObject({ state: "running" });
    await n.client.cancel(job.id);
    expect(await nextState(events)).toMatchObject({ state: "cancelled" });
    expect(await events.next()).toBeUndefined();
  });

  it("of a client's job, unsigned: the same 404 as for no job at all, saying the owner's signature is needed", async () => {
    const job = await n.client.startJob({ codeHash: spin, entry: "spin", sandbox: "in-process" });
    const ask = async (id: string) => {
      try {
        await n.anonymous.request("GET", `/jobs/${id}/events`);
      } catch (e) {
        if (e instanceof HttpError) return { status: e.status, code: e.code, message: e.message.replace(id, "ID") };
      }
      throw new Error("expected an HTTP error");
    };
    const owned = await ask(job.id);
    expect(owned).toEqual(await ask("00000000-0000-4000-8000-000000000000"));
    expect(owned).toMatchObject({ status: 404, code: "not_found" });
    expect(owned.message).toMatch(/signed with its owner's key/);
    await n.client.cancel(job.id);
  });

  it("signed by the owner on another client object: streams as usual", async () => {
    const job = await n.client.startJob({ codeHash: io, entry: "hello", args: [1], sandbox: "in-process", waitMs: 30_000 });
    const owner = new FerryClient({ url: n.running.url, key: n.key });
    const text = await (await owner.request("GET", `/jobs/${job.id}/events`)).text();
    expect(text).toMatch(/"state":"done"/);
  });
});
