// A directory tree carried by content (runtime/resources/tree-transfer.ts): captured from one tree
// and applied to another, HostDirectory and MemoryDirectory alike; blobs the receiver has are not
// sent again; and the receiver's side attacked with manifests and blobs a hostile node could send.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  applyTree,
  captureTree,
  FsError,
  HostDirectory,
  MemoryDirectory,
  readManifest,
  removeTree,
  type TransferTree,
} from "../../../runtime/index.js";
import { digest } from "../../../runtime/resources/tree-transfer.js";
import { refusal } from "../../helpers/errors.js";

const root = mkdtempSync(join(tmpdir(), "ferry-tree-transfer-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function hostTree(name: string): { dir: string; tree: HostDirectory } {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  return { dir, tree: new HostDirectory(dir) };
}

function source(name: string) {
  const s = hostTree(name);
  mkdirSync(join(s.dir, "a/b/c"), { recursive: true });
  writeFileSync(join(s.dir, "top.txt"), "top");
  writeFileSync(join(s.dir, "a/one.bin"), Buffer.alloc(3 * 1024 * 1024 + 5, 7)); // more than one read chunk
  writeFileSync(join(s.dir, "a/b/c/deep.txt"), "deep");
  writeFileSync(join(s.dir, "a/b/same.txt"), "top"); // the same bytes as top.txt: one blob
  writeFileSync(join(s.dir, "empty"), "");
  return s;
}

/** Every file of a tree, by path, as text of its bytes' digest (comparable across trees). */
async function contents(tree: TransferTree): Promise<Record<string, string>> {
  const { manifest } = await captureTree(tree);
  return Object.fromEntries(manifest.entries.map((e) => [e.path, e.type === "file" ? e.sha256 : "dir"]));
}

describe("capture and apply", () => {
  it("carries a tree to another host directory, byte for byte, sending identical files once", async () => {
    const from = source("src1");
    const to = hostTree("dst1");
    const captured = await captureTree(from.tree);
    expect(captured.manifest.entries.filter((e) => e.type === "file")).toHaveLength(5);
    expect(captured.blobs.size).toBe(4); // top.txt and a/b/same.txt share one
    await applyTree(to.tree, readManifest(JSON.parse(JSON.stringify(captured.manifest))), (h) => captured.blobs.get(h));
    expect(await contents(to.tree)).toEqual(await contents(from.tree));
    expect(readFileSync(join(to.dir, "a/b/c/deep.txt"), "utf8")).toBe("deep");
  });

  it("carries a host tree into a private in-memory tree and back", async () => {
    const from = source("src2");
    const memory = new MemoryDirectory();
    const c1 = await captureTree(from.tree);
    await applyTree(memory, c1.manifest, (h) => c1.blobs.get(h));
    const back = hostTree("dst2");
    const c2 = await captureTree(memory);
    await applyTree(back.tree, c2.manifest, (h) => c2.blobs.get(h));
    expect(await contents(back.tree)).toEqual(await contents(from.tree));
  });

  it("reads only the bytes the receiver lacks: a second round after one change carries one blob", async () => {
    const from = source("src3");
    const first = await captureTree(from.tree);
    const held = new Set(first.blobs.keys());
    writeFileSync(join(from.dir, "a/b/c/deep.txt"), "deeper");
    const second = await captureTree(from.tree, (h) => held.has(h));
    expect([...second.blobs.values()].map((b) => Buffer.from(b).toString())).toEqual(["deeper"]);
  });

  it("never follows a symlink: it is skipped and named", async () => {
    const from = hostTree("src4");
    writeFileSync(join(root, "outside-secret"), "secret");
    symlinkSync(join(root, "outside-secret"), join(from.dir, "link"));
    writeFileSync(join(from.dir, "real"), "real");
    const c = await captureTree(from.tree);
    expect(c.skipped).toEqual(["link"]);
    expect(c.manifest.entries.map((e) => e.path)).toEqual(["real"]);
  });

  it("stops at its limits: ENOSPC past the entries, EFBIG past the bytes", async () => {
    const from = source("src5");
    await expect(captureTree(from.tree, undefined, { maxEntries: 3 })).rejects.toThrow(/ENOSPC/);
    await expect(captureTree(from.tree, undefined, { maxBytes: 1024 })).rejects.toThrow(/EFBIG/);
  });

  it("replaces a file at the target and keeps what the manifest does not name", async () => {
    const from = source("src6");
    const to = hostTree("dst6");
    writeFileSync(join(to.dir, "top.txt"), "old");
    writeFileSync(join(to.dir, "mine.txt"), "mine");
    const c = await captureTree(from.tree);
    await applyTree(to.tree, c.manifest, (h) => c.blobs.get(h));
    expect(readFileSync(join(to.dir, "top.txt"), "utf8")).toBe("top");
    expect(readFileSync(join(to.dir, "mine.txt"), "utf8")).toBe("mine");
  });
});

describe("a hostile sender", () => {
  const file = (path: string, bytes = "x") => ({ path, type: "file", size: Buffer.byteLength(bytes), sha256: digest(Buffer.from(bytes)) });

  it.each([
    ["a path that climbs out", [file("../escape")]],
    ["an absolute path", [file("/etc/passwd")]],
    ["a path with NUL", [file("a\0b")]],
    ["a path not normalized", [file("a/./b")]],
    ["the root itself", [file("")]],
    ["a file before its directory", [file("d/f"), { path: "d", type: "directory" }]],
    ["a path listed twice", [file("f"), file("f")]],
    ["a bad digest", [{ path: "f", type: "file", size: 1, sha256: "zz" }]],
    ["a negative size", [{ path: "f", type: "file", size: -1, sha256: digest(Buffer.from("x")) }]],
    ["an unknown type", [{ path: "f", type: "symlink" }]],
  ])("refuses a manifest with %s (tree_malformed)", async (_name, entries) => {
    const e = await refusal(() => readManifest({ entries }));
    expect(e.code).toBe("tree_malformed");
  });

  it("refuses a manifest over the limits", async () => {
    const entries = Array.from({ length: 11 }, (_, i) => file(`f${i}`));
    expect((await refusal(() => readManifest({ entries }, { maxEntries: 10 }))).message).toMatch(/more than 10/);
    expect((await refusal(() => readManifest({ entries: [file("f", "0123456789")] }, { maxBytes: 5 }))).message).toMatch(
      /more than 5 bytes/,
    );
  });

  it("writes nothing when a blob is missing or does not match its digest", async () => {
    const to = hostTree("dst-hostile");
    const manifest = readManifest({ entries: [{ path: "d", type: "directory" }, file("d/good", "good"), file("d/bad", "bad")] });
    const blobs = new Map([
      [digest(Buffer.from("good")), Buffer.from("good")],
      [digest(Buffer.from("bad")), Buffer.from("evil")],
    ]);
    expect((await refusal(applyTree(to.tree, manifest, (h) => blobs.get(h)))).code).toBe("tree_malformed");
    blobs.delete(digest(Buffer.from("bad")));
    expect((await refusal(applyTree(to.tree, manifest, (h) => blobs.get(h)))).message).toMatch(/no bytes for "d\/bad"/);
    expect(await contents(to.tree)).toEqual({});
  });

  it("cannot write through a symlink the receiving tree holds", async () => {
    const to = hostTree("dst-symlink");
    mkdirSync(join(root, "victim"), { recursive: true });
    symlinkSync(join(root, "victim"), join(to.dir, "d"));
    const manifest = readManifest({ entries: [{ path: "d", type: "directory" }, file("d/planted", "p")] });
    await expect(applyTree(to.tree, manifest, () => Buffer.from("p"))).rejects.toThrow();
    expect(() => readFileSync(join(root, "victim", "planted"))).toThrow();
  });
});

describe("removeTree (a moved tree leaves its source)", () => {
  it("takes out what the manifest names, keeps what came after the capture, and may be run again", async () => {
    const from = source("remove1");
    const { manifest } = await captureTree(from.tree);
    // Written after the capture: not the migration's to take (and its directory stays for it).
    writeFileSync(join(from.dir, "a/b/later.txt"), "later");
    await removeTree(from.tree, manifest);
    expect(await contents(from.tree)).toEqual({ a: "dir", "a/b": "dir", "a/b/later.txt": digest(Buffer.from("later")) });
    expect(existsSync(join(from.dir, "a/b/c"))).toBe(false);
    // A retried removal (the first one cut short) finishes the work without an error.
    await removeTree(from.tree, manifest);
    rmSync(join(from.dir, "a/b/later.txt"));
    await removeTree(from.tree, manifest);
    expect(await contents(from.tree)).toEqual({});
  });

  it("works over a private in-memory tree too", async () => {
    const tree = new MemoryDirectory();
    const from = source("remove2");
    const captured = await captureTree(from.tree);
    await applyTree(tree, captured.manifest, (h) => captured.blobs.get(h));
    await removeTree(tree, captured.manifest);
    expect(await contents(tree)).toEqual({});
  });

  it("lets a failure other than a missing or non-empty entry through", async () => {
    const from = source("remove3");
    const { manifest } = await captureTree(from.tree);
    const t = from.tree;
    const refusing: TransferTree = {
      stat: (p) => t.stat(p),
      list: (p) => t.list(p),
      mkdir: (p) => t.mkdir(p),
      rmdir: (p) => t.rmdir(p),
      rename: (x, y) => t.rename(x, y),
      openFile: (p, o) => t.openFile(p, o),
      unlink: () => {
        throw new FsError("EACCES", "read-only");
      },
    };
    await expect(removeTree(refusing, manifest)).rejects.toMatchObject({ errno: "EACCES" });
    expect(readFileSync(join(from.dir, "top.txt"), "utf8")).toBe("top");
  });
});
