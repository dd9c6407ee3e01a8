// TreeDigests: a capture reuses an earlier capture's digest only for a file that certainly has not
// changed since it was read — same identity, size, mtime and ctime, and last changed well before that
// capture began — and reads it again otherwise: after a write, after a utimes that puts the mtime
// back (ctime moves), and for a file changed just before the earlier capture (its read may be racy).
// A MemoryDirectory with an injected clock; reads counted at openFile.
import { describe, expect, it } from "vitest";
import { captureTree, MemoryDirectory, TreeDigests } from "../../../runtime/index.js";

function clocked(): { tree: MemoryDirectory; at: (s: number) => void; nowNs: () => bigint; reads: string[] } {
  let now = 0n;
  const tree = new MemoryDirectory({ now: () => now });
  const reads: string[] = [];
  const open = tree.openFile.bind(tree);
  tree.openFile = (path, options) => {
    if (!options.write) reads.push(path);
    return open(path, options);
  };
  return { tree, at: (s) => void (now = BigInt(Math.round(s * 1000)) * 1_000_000n), nowNs: () => now, reads };
}

function write(tree: MemoryDirectory, path: string, text: string): void {
  const f = tree.openFile(path, { create: true, write: true, truncate: true });
  f.write(new TextEncoder().encode(text), 0);
  f.close();
}

describe("TreeDigests", () => {
  it("reuses the digest of a file unchanged since a capture that began well after its last change", async () => {
    const { tree, at, nowNs, reads } = clocked();
    const digests = new TreeDigests(nowNs);
    at(0);
    write(tree, "old.txt", "written long ago");
    write(tree, "busy.txt", "one");
    at(5);
    const first = await captureTree(tree, () => false, {}, digests);
    expect(reads.sort()).toEqual(["busy.txt", "old.txt"]);
    const sent = new Set(first.blobs.keys());
    // The job goes on: busy.txt is written, old.txt is not.
    at(6);
    write(tree, "busy.txt", "two");
    reads.length = 0;
    at(7);
    const second = await captureTree(tree, (sha) => sent.has(sha), {}, digests);
    expect(reads).toEqual(["busy.txt"]);
    expect(second.manifest.entries.find((e) => e.path === "old.txt")).toEqual(first.manifest.entries.find((e) => e.path === "old.txt"));
    expect([...second.blobs.values()].map((b) => new TextDecoder().decode(b))).toEqual(["two"]);
  });

  it("reads again a file whose mtime was put back (its ctime moved), and one changed just before the earlier capture", async () => {
    const { tree, at, nowNs, reads } = clocked();
    const digests = new TreeDigests(nowNs);
    at(0);
    write(tree, "sneaky.txt", "AAAA");
    at(10);
    write(tree, "racy.txt", "1");
    at(10.05); // the capture begins 50 ms after racy.txt's last change: what it reads may not be final
    const first = await captureTree(tree, () => false, {}, digests);
    const sent = new Set(first.blobs.keys());
    at(11);
    write(tree, "sneaky.txt", "BBBB"); // same size…
    tree.setTimes("sneaky.txt", undefined, 0n); // …and its old mtime
    reads.length = 0;
    at(20);
    const second = await captureTree(tree, (sha) => sent.has(sha), {}, digests);
    expect(reads.sort()).toEqual(["racy.txt", "sneaky.txt"]);
    expect([...second.blobs.values()].map((b) => new TextDecoder().decode(b))).toEqual(["BBBB"]);
  });

  it("reads a known file whose bytes the receiver lacks", async () => {
    const { tree, at, nowNs, reads } = clocked();
    const digests = new TreeDigests(nowNs);
    at(0);
    write(tree, "a.txt", "bytes");
    at(5);
    await captureTree(tree, () => false, {}, digests);
    reads.length = 0;
    at(6);
    const again = await captureTree(tree, () => false, {}, digests);
    expect(reads).toEqual(["a.txt"]);
    expect(again.blobs.size).toBe(1);
  });
});
