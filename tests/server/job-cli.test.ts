// Every job action of the HTTP API as a command — ferry pause | resume | cancel | logs [--follow] |
// output | snapshot | share — each a real child process of the built CLI against a node over HTTP,
// signed with --key where the job is a client's.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeKeyFile } from "../../server/auth/index.js";
import { ferry } from "../helpers/cli.js";
import { INFINITE_LOOP } from "../helpers/fixtures.js";
import { removeDir, startTestNode, tempDir, type TestNode } from "../helpers/node.js";
import { startedFerry, TICKER, type Started } from "../helpers/ticker.js";
import { until } from "../helpers/until.js";

const dir = tempDir("ferry-job-cli-");
const children: Started[] = [];
const keyFile = join(dir, "me.json");
let n: TestNode;
let ticker: string;
let spin: string;

beforeAll(async () => {
  n = await startTestNode({ quotas: { maxConcurrentJobs: 16 }, sharedModuleCache: true });
  writeKeyFile(keyFile, n.key);
  ticker = (await n.client.uploadModule(TICKER, { public: true })).codeHash;
  spin = (await n.client.uploadModule(INFINITE_LOOP, { public: true })).codeHash;
});

afterAll(async () => {
  for (const c of children) c.kill();
  await n?.close();
  if (n) removeDir(n.dataDir);
  removeDir(dir);
});

const at = (...args: string[]) => [...args, "--node", n.running.url];

describe("ferry pause / resume / cancel / snapshot / output", () => {
  it("drive a client's job signed with --key, each printing the job", async () => {
    const job = await n.client.startJob({ codeHash: spin, entry: "spin" }); // the client's: isolated, signed
    const paused = await ferry(at("pause", job.id, "--key", keyFile));
    expect(paused).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(paused.stdout)).toMatchObject({
      id: job.id,
      state: "paused",
      result: null,
      movedTo: null,
      lastCheckpoint: { seq: 1 },
    });

    // The snapshot of the paused job, to a file that inspect reads (it names the module's hash).
    const file = join(dir, "spin.ferry");
    const saved = await ferry(at("snapshot", job.id, "--key", keyFile, "--out", file));
    expect(saved.code).toBe(0);
    expect(saved.stderr).toMatch(/wrote .*spin\.ferry/);
    const inspected = await ferry(["inspect", file, "--json"]);
    expect(JSON.parse(inspected.stdout)).toMatchObject({ codeHash: spin, continuation: { state: "paused" } });

    // A job id resumes the job on the node; a snapshot file would resume the run here.
    const resumed = await ferry(at("resume", job.id, "--key", keyFile));
    expect(JSON.parse(resumed.stdout)).toMatchObject({ id: job.id, state: "running" });
    const cancelled = await ferry(at("cancel", job.id, "--key", keyFile));
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ id: job.id, state: "cancelled", result: { status: "cancelled" } });

    // Without the owner's key the job is not there (the same answer as for no job: exit 3).
    const unsigned = await ferry(at("pause", job.id));
    expect(unsigned.code).toBe(3);
    expect(unsigned.stderr).toMatch(/^ferry: 404 not_found: .*owner's key.*\n$/);
    // Resuming a job that is not paused: 409, one line, exit 3.
    const again = await ferry(at("resume", job.id, "--key", keyFile));
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/^ferry: 409 conflict: .*is cancelled\n$/);
  });

  it("output writes the job's output raw, to stdout or a file; snapshot of a job that is not paused is refused", async () => {
    const job = await n.anonymous.startJob({ codeHash: ticker, entry: "ticker", args: [1000] });
    await until(async () => (await n.anonymous.job(job.id)).outputBytes >= 50, "some output");
    await n.anonymous.pause(job.id);
    const size = (await n.anonymous.job(job.id)).outputBytes;
    const stdout = await ferry(at("output", job.id));
    expect(stdout.code).toBe(0);
    expect(stdout.stdout).toBe("tick\n".repeat(size / 5));
    const file = join(dir, "ticks.txt");
    expect((await ferry(at("output", job.id, "--out", file))).code).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(stdout.stdout);
    // The default snapshot file is <job-id>.ferry in the working directory (here: --out - to stdout).
    const piped = await ferry(at("snapshot", job.id, "--out", "-"));
    expect(piped.code).toBe(0);
    expect(piped.stdout.startsWith("FERRYSNP")).toBe(true);
    await n.anonymous.resume(job.id);
    const running = await ferry(at("snapshot", job.id, "--out", join(dir, "no.ferry")));
    expect(running.code).toBe(3);
    expect(running.stderr).toMatch(/409 conflict: .*pause it first/);
    expect(existsSync(join(dir, "no.ferry"))).toBe(false);
    await n.anonymous.cancel(job.id);
  });

  it("bad command lines are refused before any request: exit 2, one line", async () => {
    for (const args of [
      ["pause"],
      ["cancel", "a", "b"],
      ["logs"],
      ["output", "x", "--out", join(dir, "missing", "f")],
      ["snapshot", "x", "--out", join(dir, "missing", "f.ferry")],
      ["share", "x"],
    ]) {
      const r = await ferry(at(...args));
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr.split("\n").filter(Boolean), args.join(" ")).toHaveLength(1);
    }
    // A snapshot file that is not there and is not a job id: resume reads it as a snapshot (exit 2).
    expect((await ferry(["resume", join(dir, "nothing.ferry")])).code).toBe(2);
  });
  // Each command's --help ending with the exit status table: tests/server/cli/cli-exit-status.test.ts, for every command.
});

describe("ferry logs", () => {
  it("--follow prints live output as text and log lines, every state change, and ends with the job", async () => {
    const job = await n.anonymous.startJob({ codeHash: ticker, entry: "ticker", args: [200_000] });
    const follow = startedFerry(at("logs", job.id, "--follow"), children);
    // Live: output and log lines arrive while the job runs (log lines only from when the stream starts).
    await until(() => follow.out.stdout.includes("tick\n") && follow.out.stderr.includes("log: tock\n"), "live output and a log line");
    expect(follow.out.stderr).toMatch(new RegExp(`^ferry: job ${job.id} running\n`));
    expect((await ferry(at("pause", job.id))).code).toBe(0);
    await until(() => follow.out.stderr.includes(`job ${job.id} paused\n`), "the paused state");
    expect((await ferry(at("resume", job.id))).code).toBe(0);
    await until(() => /paused\n(log: tock\n)*ferry: job \S+ running\n/.test(follow.out.stderr), "running again");
    expect((await ferry(at("cancel", job.id))).code).toBe(0);
    expect(await follow.exited).toBe(1); // the job ended cancelled
    expect(follow.out.stderr).toMatch(new RegExp(`ferry: job ${job.id} cancelled\n$`));
    // Every byte of output exactly once, in order: the same as the node's output.
    const output = (await ferry(at("output", job.id))).stdout;
    expect(follow.out.stdout).toBe(output);
    expect(output).toMatch(/^(tick\n)+$/);
    expect(follow.out.stdout).not.toMatch(/[A-Za-z0-9+/]{12,}={0,2}/); // text, not base64 chunks
  });

  it("without --follow: the output so far as text; a finished job's --follow catches up and ends", async () => {
    const job = await n.anonymous.startJob({ codeHash: ticker, entry: "ticker", args: [1000] });
    await until(async () => (await n.anonymous.job(job.id)).outputBytes >= 25, "some output");
    await n.anonymous.cancel(job.id);
    const size = (await n.anonymous.job(job.id)).outputBytes;
    const plain = await ferry(at("logs", job.id));
    expect(plain).toMatchObject({ code: 0, stdout: "tick\n".repeat(size / 5), stderr: "" });
    const followed = await ferry(at("logs", job.id, "--follow"));
    expect(followed).toMatchObject({ code: 1, stdout: "tick\n".repeat(size / 5), stderr: `ferry: job ${job.id} cancelled\n` });
  });
});

describe("ferry share", () => {
  it("needs --key, and refuses a peer the node does not have (400, exit 3)", async () => {
    const job = await n.client.startJob({ codeHash: spin, entry: "spin" });
    const r = await ferry(at("share", job.id, "--key", keyFile, "--peers", "nobody"));
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/400 bad_request: .*nobody is not a peer of this node/);
    await n.client.cancel(job.id);
  });
});
