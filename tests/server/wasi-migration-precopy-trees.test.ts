// A running job's moved directory travels early: its files' bytes go in a PRE-COPY round while the
// job still runs, and the PREPARE (sent once the job is stopped) carries the trees' manifests and
// only what changed since — here nothing. Watched on the wire: the source reaches the target through
// a recording proxy (real HTTP, every request passed on unchanged), which notes each request's
// transfer header and size.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { decodeTransferHeader, TRANSFER_HEADER } from "../../server/migration/transfer-header.js";
import { ended, exitOf, lzCluster, outputText, program, resourceDir } from "../helpers/lz-jobs.js";
import { closeNodes, type TestNode } from "../helpers/node.js";
import { type PassedRequest, type RecordingProxy, recordingProxy } from "../helpers/recording-proxy.js";
import { until } from "../helpers/until.js";

const nodes: TestNode[] = [];
const proxies: RecordingProxy[] = [];
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
  await closeNodes(nodes);
});

const MiB = 1024 * 1024;
/** c-sleep's ticks and ms per tick: long enough to be running when it moves, with the pre-copy. */
const SLEEP = ["400", "20"];

/** The tree bytes a PRE-COPY or PREPARE said it carried, and its whole body. */
function carried(r: PassedRequest): { trees: number; body: number } {
  const { header } = decodeTransferHeader(r.headers[TRANSFER_HEADER] as string);
  return { trees: header.trees ?? 0, body: r.bodyBytes };
}

describe("a running job's moved directory and pre-copy", () => {
  it("sends a 4 MiB file's bytes in a PRE-COPY round; the PREPARE's bundle carries none of them", async () => {
    const { n } = await lzCluster(2, (x) => nodes.push(x));
    const [a, b] = n as [TestNode, TestNode];
    const proxy = await recordingProxy(b.running.url);
    proxies.push(proxy);
    a.running.store.peers.upsert({ nodeId: b.running.identity.nodeId, url: proxy.url, publicKey: b.running.identity.publicKey });

    const big = randomBytes(4 * MiB);
    mkdirSync(resourceDir(a, "data"), { recursive: true });
    writeFileSync(join(resourceDir(a, "data"), "big.bin"), big);
    const { codeHash } = await a.client.uploadModule(program("c-sleep"));
    const job = await a.client.startJob({
      codeHash,
      wasi: { args: SLEEP, env: {}, dirs: [{ guest: "/data", resource: "data", access: "rw", migrate: "move" }] },
    });
    expect(job.state).toBe("running");
    await a.client.migrate(job.id, b.running.identity.nodeId);

    const rounds = proxy.passed.filter((r) => r.path === "/peer/migrations/precopy").map(carried);
    const prepares = proxy.passed.filter((r) => r.path === "/peer/migrations/prepare").map(carried);
    expect(rounds.length).toBeGreaterThan(0);
    // The first round carries the file (its manifest and its 4 MiB blob); later rounds, only manifests.
    expect(rounds[0]!.trees).toBeGreaterThan(4 * MiB);
    for (const r of rounds.slice(1)) expect(r.trees).toBeLessThan(64 * 1024);
    expect(prepares).toHaveLength(1);
    expect(prepares[0]!.trees).toBeGreaterThan(0);
    expect(prepares[0]!.trees).toBeLessThan(64 * 1024);
    expect(prepares[0]!.body).toBeLessThan(MiB);

    // The file is whole at the target (from the round's bytes), gone from the source, and the job ends there.
    expect(readFileSync(join(resourceDir(b, "data"), "big.bin")).equals(big)).toBe(true);
    await until(() => !existsSync(join(resourceDir(a, "data"), "big.bin")), "the moved file to leave the source", 30_000);
    const end = await ended(b, job.id);
    expect(exitOf(end)).toBe(0);
    expect(await outputText(b, job.id)).toContain(`tick ${SLEEP[0]}\nslept at least 8000 ms: yes\n`);
  });
});
