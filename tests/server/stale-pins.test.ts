// After a restart a node releases the pins that hold nothing for anyone: those of jobs that are
// here after all (a transfer never decided, a job that came back), finished here, or gone — and
// keeps those of jobs that moved on (migrated) or are arriving (prepared). Real store, real pins.
import { afterEach, describe, expect, it } from "vitest";
import { loadOrCreateNodeIdentity } from "../../server/auth/index.js";
import { releaseStalePins } from "../../server/node/dir-migration.js";
import { ResourcePins } from "../../server/node/resource-pins.js";
import type { JobState } from "../../server/store/records.js";
import { Store } from "../../server/store/store.js";
import { generateSigningKey } from "../../server/auth/index.js";
import { removeDir, tempDir } from "../helpers/node.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

describe("releaseStalePins", () => {
  it("releases the pins of jobs here or gone, keeps those of jobs elsewhere or arriving", () => {
    const dir = tempDir("stale-pins-");
    dirs.push(dir);
    using store = Store.open(dir);
    const identity = loadOrCreateNodeIdentity(dir);
    const pins = new ResourcePins(store, identity);
    const key = generateSigningKey();
    const owner = store.clients.add({ publicKey: key.publicKey, capabilities: ["data/*:rw"] }).id;
    store.peers.upsert({ nodeId: "node-b", url: "http://127.0.0.1:1", publicKey: identity.publicKey });
    const { codeHash } = store.modules.put(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]), { owner, public: false }).module;
    const here = identity.nodeId;
    const jobs: Array<[string, JobState, string]> = [
      ["moved-on", "migrated", "node-b"],
      ["arriving", "prepared", here],
      ["aborted-transfer", "running", here],
      ["came-back-paused", "paused", here],
      ["ended-here", "done", here],
      ["runs-elsewhere", "running", "node-b"],
    ];
    for (const [id, state, node] of jobs) store.jobs.create({ id, codeHash, owner, trust: "authenticated", entry: "_start", node, state });
    for (const [id] of [...jobs, ["deleted"]]) pins.create({ jobId: id!, owner, dir: "data", access: "rw", peer: "node-b" });
    expect(releaseStalePins(store, pins, here)).toBe(4);
    expect(
      pins
        .list()
        .map((p) => p.jobId)
        .sort(),
    ).toEqual(["arriving", "moved-on", "runs-elsewhere"]);
  });
});
