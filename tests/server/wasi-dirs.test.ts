// The node's rules for a WASI job's directories (server/node/wasi-dirs.ts): which capabilities grant
// a resource directory, and a scratch tree carried through a snapshot's resource section and back.
import { describe, expect, it } from "vitest";
import { MemoryDirectory, type Snapshot } from "../../runtime/index.js";
import { grantsDirectory, SCRATCH_KEY, takeScratch, withScratch } from "../../server/node/wasi-dirs.js";
import type { JobWasi } from "../../server/store/records.js";

describe("grantsDirectory", () => {
  it("needs a prefix grant covering the directory and everything in it, with the access asked for", () => {
    expect(grantsDirectory(["reports/*:rw"], "reports", "rw")).toBe(true);
    expect(grantsDirectory(["reports/*:rw"], "reports/2026", "r")).toBe(true);
    expect(grantsDirectory(["reports/*:r"], "reports", "rw")).toBe(false);
    expect(grantsDirectory(["reports/*:w"], "reports", "r")).toBe(false);
    expect(grantsDirectory(["reports:rw"], "reports", "rw")).toBe(false); // one resource, not a tree
    expect(grantsDirectory(["reports/*:rw"], "reportsX", "r")).toBe(false);
    expect(grantsDirectory(["reports/2026/*:rw"], "reports", "r")).toBe(false); // covers only part of it
    expect(grantsDirectory(["rep*:r"], "reports", "r")).toBe(true);
    expect(grantsDirectory(["*:rw"], "anything/at/all", "rw")).toBe(true);
    expect(grantsDirectory(["not a capability"], "reports", "r")).toBe(false);
    expect(grantsDirectory([], "reports", "r")).toBe(false);
  });
});

describe("scratch trees in the resource section", () => {
  const wasi: JobWasi = { args: [], env: {}, dirs: [{ guest: "/s", scratch: true }] };
  const bare = { resources: { wasi: { version: 1 } } } as unknown as Snapshot;

  it("travel with the snapshot and come back as the same files; the runtime's part is untouched", () => {
    const tree = new MemoryDirectory({ files: { "a/b.txt": "hello", "c.bin": new Uint8Array([0, 1, 2]) } });
    const carried = withScratch(bare, new Map([["/s", tree]]));
    expect(Object.keys(carried.resources ?? {}).sort()).toEqual([SCRATCH_KEY, "wasi"]);
    expect(bare.resources).toEqual({ wasi: { version: 1 } }); // the original is not changed
    const back = takeScratch(JSON.parse(JSON.stringify(carried)) as Snapshot, wasi);
    expect(back.snapshot.resources).toEqual({ wasi: { version: 1 } });
    const restored = back.scratch.get("/s")!;
    const into = new Uint8Array(16);
    const f = restored.openFile("a/b.txt", {});
    expect(Buffer.from(into.subarray(0, f.read(into, 0))).toString()).toBe("hello");
    expect(restored.list("").map((e) => e.name)).toEqual(["a", "c.bin"]);
  });

  it("ignore trees for guest paths the job does not have, and a job without scratch leaves the snapshot as it is", () => {
    expect(withScratch(bare, new Map())).toBe(bare);
    const carried = withScratch(bare, new Map([["/other", new MemoryDirectory({ files: { x: "1" } })]]));
    expect(takeScratch(carried, wasi).scratch.size).toBe(0);
    expect(takeScratch(bare, wasi).snapshot).toBe(bare);
  });
});
