// The CLI against a real node: keygen → admin add-client → serve → upload → submit → status →
// migrate, each as a separate process of the built `ferry`, as an operator would type them.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findRepoRoot, guestWasmPath } from "../../guest/catalog.js";
import * as reference from "../../guest/reference.js";
import { removeDir, shareModuleCache, tempDir } from "../helpers/node.js";
import { spawnNode, type NodeProcess } from "../helpers/node-process.js";

const bin = join(findRepoRoot(), "bin", "ferry.js");
const dir = tempDir("ferry-remote-cli-");
const running: NodeProcess[] = [];
afterAll(async () => {
  for (const n of running) await n.stop();
  removeDir(dir);
});

function ferry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: dir }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 99) : 0, stdout, stderr });
    });
  });
}

describe("ferry upload / submit / status / migrate", () => {
  it("drives a node end to end from the command line", async () => {
    const key = join(dir, "me.json");
    expect((await ferry("keygen", "--out", key)).code).toBe(0);
    const dataA = join(dir, "a");
    const dataB = join(dir, "b");
    expect((await ferry("admin", "add-client", "--create", "--data-dir", dataA, "--public-key", key)).code).toBe(0);
    expect((await ferry("admin", "add-client", "--create", "--data-dir", dataB, "--public-key", key)).code).toBe(0);
    // The run's module cache: compiling is not under test here, and a fresh node's first compile loads Binaryen.
    for (const data of [dataA, dataB]) shareModuleCache(data);
    const b = await spawnNode(dataB);
    running.push(b);
    const peers = join(dir, "peers-a.json");
    (await import("node:fs")).writeFileSync(peers, JSON.stringify([{ nodeId: b.nodeId, url: b.url, publicKey: b.publicKey }]));
    const a = await spawnNode(dataA, { peersFile: peers });
    running.push(a);

    const upload = await ferry("upload", guestWasmPath("sieve"), "--key", key, "--node", a.url, "--public");
    expect(upload).toMatchObject({ code: 0 });
    const codeHash = upload.stdout.trim();
    expect(codeHash).toMatch(/^[0-9a-f]{64}$/);

    const submitted = await ferry("submit", codeHash, "--args", "100000", "--wait", "10000", "--node", a.url);
    expect(submitted.code).toBe(0);
    const job = JSON.parse(submitted.stdout) as { id: string; state: string; result: { value: number } };
    expect(job).toMatchObject({ state: "done", result: { value: 9592 } });

    const modules = await ferry("modules", "--node", a.url);
    expect(JSON.parse(modules.stdout)).toMatchObject({ modules: [{ codeHash, public: true, mine: false }], next: null });
    expect((await ferry("modules", "--node", a.url, "--limit", "0")).code).toBe(2);
    const status = await ferry("status", job.id, "--node", a.url);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: job.id, state: "done" });
    // A job's output is fetched a page at a time: to stdout raw, or to a file beside the JSON.
    const art = (await ferry("upload", guestWasmPath("mandelbrot"), "--key", key, "--node", a.url, "--public")).stdout.trim();
    const drawn = JSON.parse((await ferry("submit", art, "--args", "30,10", "--wait", "10000", "--node", a.url)).stdout) as {
      id: string;
      outputBytes: number;
    };
    const picture = Buffer.from(reference.mandelbrot(30, 10).output).toString();
    expect(drawn.outputBytes).toBe(Buffer.byteLength(picture));
    expect(await ferry("status", drawn.id, "--output", "-", "--node", a.url)).toMatchObject({ code: 0, stdout: picture });
    const file = join(dir, "picture.txt");
    const withFile = await ferry("status", drawn.id, "--output", file, "--node", a.url);
    expect(JSON.parse(withFile.stdout)).toMatchObject({ id: drawn.id, outputBytes: drawn.outputBytes });
    expect(readFileSync(file, "utf8")).toBe(picture);
    // Without an id: the signer's own jobs (the anonymous one above is not among them).
    const mine = await ferry("submit", codeHash, "--args", "1000", "--wait", "10000", "--key", key, "--node", a.url);
    const mineId = (JSON.parse(mine.stdout) as { id: string }).id;
    const listed = await ferry("status", "--key", key, "--node", a.url, "--state", "done,trapped", "--limit", "10");
    expect(JSON.parse(listed.stdout)).toMatchObject({ jobs: [{ id: mineId, state: "done" }], next: null });
    expect((await ferry("status", "--node", a.url)).code).toBe(2); // listing needs --key
    expect((await ferry("status", job.id, "--limit", "3", "--node", a.url)).code).toBe(2);
    expect((await ferry("status", "--key", key, "--node", a.url, "--state", "asleep")).code).toBe(3);

    // A finished job cannot migrate: a clear 409 and exit status 3.
    const migrate = await ferry("migrate", job.id, "--to", b.nodeId, "--key", key, "--node", a.url);
    expect(migrate.code).toBe(3);
    expect(migrate.stderr).toMatch(/409 conflict/);

    expect((await ferry("upload", guestWasmPath("sieve"), "--node", a.url)).code).toBe(2); // no --key
    expect((await ferry("status", "nope", "--node", a.url)).code).toBe(3);
    const unreachable = await ferry("status", "x", "--node", "http://127.0.0.1:9");
    expect(unreachable.code).toBe(5); // unavailable (the exit status table)
  }, 180_000);
});
