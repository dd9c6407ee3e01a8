// MemoryDirectory (runtime/resources/memory-directory.ts) where a tree in memory has rules of its
// own: the seed files, the quotas (ENOSPC), the injected clock, inode numbers from a counter, and
// the snapshot that lets a scratch directory travel (memory-snapshot.ts), read back as untrusted.
// The behaviour it shares with HostDirectory is directory-behaviour.test.ts.
import { describe, expect, it } from "vitest";
import type { Directory } from "../../../runtime/resources/directory.js";
import { DEFAULT_MEMORY_MAX_BYTES, DEFAULT_MEMORY_MAX_ENTRIES, MemoryDirectory } from "../../../runtime/resources/memory-directory.js";
import type { TreeSnapshot, TreeSnapshotEntry } from "../../../runtime/resources/memory-snapshot.js";
import { errnoOf, refusal } from "../../helpers/errors.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

function readAll(d: Directory, path: string): string {
  const h = d.openFile(path, {});
  const buf = new Uint8Array(h.stat().size);
  h.read(buf, 0);
  h.close();
  return dec.decode(buf);
}

/** A clock that moves only when told. */
function manualClock(start: bigint): { now: () => bigint; set(t: bigint): void } {
  let t = start;
  return { now: () => t, set: (next) => (t = next) };
}

describe("MemoryDirectory seed and options", () => {
  it("seeds files from strings and bytes, making their directories", () => {
    const d = new MemoryDirectory({ files: { "a/b/c.txt": "deep", "top.bin": new Uint8Array([1, 2, 3]), "a/x": "" } });
    expect(readAll(d, "a/b/c.txt")).toBe("deep");
    expect(d.stat("top.bin").size).toBe(3);
    expect(d.list("a").map((e) => [e.name, e.type])).toEqual([
      ["b", "directory"],
      ["x", "file"],
    ]);
  });

  it("refuses a bad seed as invalid_option naming the file", async () => {
    const seeds: Array<Record<string, string>> = [
      { "../x": "" },
      { "/abs": "" },
      { "a//b": "" },
      { "": "" },
      { a: "", "a/b": "" },
      { "a/b": "", a: "" },
    ];
    for (const files of seeds) {
      const r = await refusal(() => new MemoryDirectory({ files }));
      expect(r.code).toBe("invalid_option");
      expect(r.message).toContain("files");
    }
    const quota = await refusal(() => new MemoryDirectory({ maxBytes: 3, files: { big: "four" } }));
    expect(quota).toMatchObject({ code: "invalid_option" });
    expect(quota.message).toContain('"big"');
  });

  it("refuses quotas that are not counts, naming the option; defaults otherwise", async () => {
    for (const [option, value] of [
      ["maxBytes", -1],
      ["maxEntries", 1.5],
      ["maxBytes", Number.POSITIVE_INFINITY],
    ] as const) {
      const r = await refusal(() => new MemoryDirectory({ [option]: value }));
      expect(r.code).toBe("invalid_option");
      expect(r.message).toContain(option);
    }
    expect(DEFAULT_MEMORY_MAX_BYTES).toBe(64 * 1024 * 1024);
    expect(DEFAULT_MEMORY_MAX_ENTRIES).toBe(10_000);
  });

  it("holds no symlinks: readlink is EINVAL on everything there is", () => {
    const d = new MemoryDirectory({ files: { f: "x" } });
    expect(errnoOf(() => d.readlink("f"))).toBe("EINVAL");
    expect(errnoOf(() => d.readlink(""))).toBe("EINVAL");
  });
});

describe("MemoryDirectory quotas", () => {
  it("refuses bytes past maxBytes with ENOSPC, all or nothing; freed bytes come back", () => {
    const d = new MemoryDirectory({ maxBytes: 10, files: { a: "12345" } });
    const h = d.openFile("b", { create: true, write: true });
    expect(h.write(enc.encode("1234"), 0)).toBe(4);
    expect(errnoOf(() => h.write(enc.encode("xy"), 4))).toBe("ENOSPC");
    expect(errnoOf(() => h.setSize(6))).toBe("ENOSPC");
    expect(errnoOf(() => h.write(enc.encode("x"), 1_000_000))).toBe("ENOSPC");
    expect(h.stat().size).toBe(4);
    expect(h.write(enc.encode("Z"), 4)).toBe(1); // exactly at the quota
    h.write(enc.encode("AB"), 0); // overwriting costs nothing
    h.close();
    d.unlink("a");
    const again = d.openFile("b", { write: true });
    expect(again.write(enc.encode("12345"), 5)).toBe(5);
    again.close();
    expect(readAll(d, "b")).toBe("AB34Z12345");
  });

  it("counts a file unlinked while open until its last handle closes", () => {
    const d = new MemoryDirectory({ maxBytes: 8, files: { big: "12345678" } });
    const h = d.openFile("big", {});
    d.unlink("big");
    const w0 = d.openFile("new", { create: true, write: true });
    expect(errnoOf(() => w0.write(enc.encode("x"), 0))).toBe("ENOSPC");
    w0.close();
    h.close();
    const w = d.openFile("other", { create: true, write: true });
    expect(w.write(enc.encode("12345678"), 0)).toBe(8);
    w.close();
  });

  it("refuses entries past maxEntries with ENOSPC; removing one makes room", () => {
    const d = new MemoryDirectory({ maxEntries: 3, files: { "dir/f": "" } });
    d.mkdir("two");
    expect(errnoOf(() => d.mkdir("three"))).toBe("ENOSPC");
    expect(errnoOf(() => d.openFile("three", { create: true }))).toBe("ENOSPC");
    d.rename("dir/f", "two/f"); // a move is not a new entry
    d.rmdir("dir");
    d.openFile("two/g", { create: true, write: true }).close();
    expect(errnoOf(() => d.mkdir("four"))).toBe("ENOSPC");
    d.rename("two/f", "two/g"); // replacing one frees its entry
    d.mkdir("four");
    expect(d.list("two").map((e) => e.name)).toEqual(["g"]);
  });
});

describe("MemoryDirectory clock and inodes", () => {
  it("stamps times from the injected clock: creation, writes, renames, setTimes", () => {
    const clock = manualClock(1_000n);
    const d = new MemoryDirectory({ now: clock.now });
    const h = d.openFile("f", { create: true, write: true });
    expect(h.stat()).toMatchObject({ atimeNs: 1_000n, mtimeNs: 1_000n, ctimeNs: 1_000n });
    expect(d.stat("")).toMatchObject({ mtimeNs: 1_000n });
    clock.set(2_000n);
    h.write(enc.encode("x"), 0);
    expect(h.stat()).toMatchObject({ atimeNs: 1_000n, mtimeNs: 2_000n, ctimeNs: 2_000n });
    clock.set(3_000n);
    d.setTimes("f", 5n, undefined);
    expect(d.stat("f")).toMatchObject({ atimeNs: 5n, mtimeNs: 2_000n, ctimeNs: 3_000n });
    clock.set(4_000n);
    d.rename("f", "g");
    expect(d.stat("g")).toMatchObject({ mtimeNs: 2_000n, ctimeNs: 4_000n });
    expect(d.stat("")).toMatchObject({ mtimeNs: 4_000n });
    h.close();
  });

  it("numbers inodes from a counter, never reusing one", () => {
    const d = new MemoryDirectory({ files: { a: "", b: "" } });
    const inos = [d.stat("").ino, d.stat("a").ino, d.stat("b").ino];
    expect(new Set(inos).size).toBe(3);
    d.unlink("a");
    d.mkdir("c");
    expect(inos).not.toContain(d.stat("c").ino);
  });
});

describe("MemoryDirectory snapshots", () => {
  it("round-trips through JSON: names, bytes, inode numbers and times; new inodes stay fresh", () => {
    const clock = manualClock(7n);
    const d = new MemoryDirectory({ now: clock.now, files: { "a/b.bin": new Uint8Array([0, 255, 10]), "c.txt": "see" } });
    d.mkdir("dir");
    d.mkdir("empty");
    d.setTimes("c.txt", 11n, 12n);
    const json = JSON.parse(JSON.stringify(d.snapshotTree())) as TreeSnapshot;
    const back = MemoryDirectory.fromTree(json, { readOnly: true });
    expect(back.readOnly).toBe(true);
    for (const path of ["", "a", "a/b.bin", "c.txt", "dir", "empty"]) expect(back.stat(path)).toEqual(d.stat(path));
    expect(back.list("")).toEqual(d.list(""));
    const bytes = new Uint8Array(3);
    back.openFile("a/b.bin", {}).read(bytes, 0);
    expect([...bytes]).toEqual([0, 255, 10]);
    const writable = MemoryDirectory.fromTree(json);
    writable.mkdir("new");
    const all = ["", "a", "a/b.bin", "c.txt", "dir", "empty"].map((p) => writable.stat(p).ino);
    expect(all.every((ino) => ino < writable.stat("new").ino)).toBe(true);
  });

  it("refuses a malformed tree as snapshot_malformed", async () => {
    const good = new MemoryDirectory({ files: { "a/f": "x" } }).snapshotTree();
    const variants: Array<(t: TreeSnapshot) => unknown> = [
      () => null,
      (t) => ({ ...t, version: 2 }),
      (t) => ({ ...t, entries: undefined }),
      (t) => ({ ...t, entries: [] }),
      (t) => ({ ...t, entries: [{ ...t.entries[0]!, type: "file" }, ...t.entries.slice(1)] }),
      (t) => ({ ...t, entries: [{ ...t.entries[0]!, parent: 0 }, ...t.entries.slice(1)] }),
      (t) => withChild(t, { name: "n", parent: 5 }), // a later entry
      (t) => withChild(t, { name: "n", parent: 2 }), // the file "a/f"
      (t) => withChild(t, { name: "n", parent: 0.5 }),
      (t) => withChild(t, { name: ".." }),
      (t) => withChild(t, { name: "x/y" }),
      (t) => withChild(t, { name: "" }),
      (t) => withChild(t, { name: "a" }), // a second "a"
      (t) => withChild(t, { name: "n", data: "not base64!" }),
      (t) => withChild(t, { name: "n", ino: "1" }), // the root's
      (t) => withChild(t, { name: "n", ino: "-3" }),
      (t) => withChild(t, { name: "n", mtimeNs: "soon" }),
      (t) => withChild(t, { name: "n", type: "symlink" as "file" }),
    ];
    for (const variant of variants) {
      const r = await refusal(() => MemoryDirectory.fromTree(variant(structuredClone(good)) as TreeSnapshot));
      expect(r.code).toBe("snapshot_malformed");
    }
  });

  it("takes odd but valid names (an object's own machinery) as plain names", () => {
    const d = new MemoryDirectory({ files: { __proto__x: "", constructor: "c" } });
    d.openFile("__proto__", { create: true }).close();
    const back = MemoryDirectory.fromTree(JSON.parse(JSON.stringify(d.snapshotTree())));
    expect(back.list("").map((e) => e.name)).toEqual(["__proto__", "__proto__x", "constructor"]);
    expect(readAll(back, "constructor")).toBe("c");
  });

  it("refuses a tree past the quotas of the directory it fills as snapshot_limit", async () => {
    const tree = new MemoryDirectory({ files: { a: "12345", b: "", c: "" } }).snapshotTree();
    expect((await refusal(() => MemoryDirectory.fromTree(tree, { maxBytes: 4 }))).code).toBe("snapshot_limit");
    expect((await refusal(() => MemoryDirectory.fromTree(tree, { maxEntries: 2 }))).code).toBe("snapshot_limit");
    expect(MemoryDirectory.fromTree(tree, { maxBytes: 5, maxEntries: 3 }).list("")).toHaveLength(3);
  });

  it("carries a tree nested deeper than any path can name (renames nest it), without recursion", () => {
    const d = new MemoryDirectory({ maxEntries: 20_000 });
    const depth = 3_000;
    // Build two chains of 1,500 directories and hang one under the other: no call names it all.
    for (const top of ["x", "y"]) {
      d.mkdir(top);
      let path = top;
      for (let i = 1; i < depth / 2; i++) d.mkdir((path = `${path}/${i % 10}`));
    }
    d.rename("y", `x/${"1/2/3/4/5/6/7/8/9/0/".repeat(149)}1/2/3/4/5/6/7/8/9/y`);
    const back = MemoryDirectory.fromTree(JSON.parse(JSON.stringify(d.snapshotTree())));
    expect(back.snapshotTree()).toEqual(d.snapshotTree());
  });
});

/** `t` with one more entry, in the root unless told otherwise. */
function withChild(t: TreeSnapshot, fields: Partial<TreeSnapshotEntry> & { name: string }): TreeSnapshot {
  const child: TreeSnapshotEntry = { parent: 0, type: "file", ino: "99", atimeNs: "0", mtimeNs: "0", ctimeNs: "0", data: "", ...fields };
  return { ...t, entries: [...t.entries, child] };
}
