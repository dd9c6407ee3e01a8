// One behaviour suite, run against both Directory implementations (runtime/resources/host-directory.ts
// over a real temp directory, memory-directory.ts in memory): the same calls give the same results and
// the same POSIX error names, so a guest cannot tell which tree it was given by how it answers.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Directory, FileHandle } from "../../../runtime/resources/directory.js";
import { HostDirectory } from "../../../runtime/resources/host-directory.js";
import { MemoryDirectory } from "../../../runtime/resources/memory-directory.js";
import { errnoOf } from "../../helpers/errors.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

type Make = (files?: Record<string, string>, options?: { readOnly?: boolean }) => Directory;

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const SUBJECTS: Array<[string, Make]> = [
  [
    "HostDirectory",
    (files = {}, options = {}) => {
      const root = mkdtempSync(join(tmpdir(), "dirs-behaviour-"));
      roots.push(root);
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(root, path)), { recursive: true });
        writeFileSync(join(root, path), text);
      }
      return new HostDirectory(root, options);
    },
  ],
  ["MemoryDirectory", (files = {}, options = {}) => new MemoryDirectory({ ...options, files })],
];

function readAll(d: Directory, path: string): string {
  const h = d.openFile(path, {});
  try {
    const buf = new Uint8Array(h.stat().size);
    expect(h.read(buf, 0)).toBe(buf.byteLength);
    return dec.decode(buf);
  } finally {
    h.close();
  }
}

function readAt(h: FileHandle, position: number, length: number): string {
  const buf = new Uint8Array(length);
  return dec.decode(buf.subarray(0, h.read(buf, position)));
}

describe.each(SUBJECTS)("%s", (_, make) => {
  it("creates a file, writes and reads it at explicit positions, extending with zeros", () => {
    const d = make();
    const h = d.openFile("f.txt", { create: true, write: true });
    expect(h.write(enc.encode("hello"), 0)).toBe(5);
    expect(h.write(enc.encode("world"), 8)).toBe(5);
    expect(h.stat().size).toBe(13);
    expect(readAt(h, 0, 13)).toBe("hello\0\0\0world");
    expect(readAt(h, 3, 4)).toBe("lo\0\0");
    expect(readAt(h, 13, 4)).toBe("");
    expect(readAt(h, 100, 4)).toBe("");
    expect(h.write(enc.encode("J"), 0)).toBe(1);
    h.close();
    expect(readAll(d, "f.txt")).toBe("Jello\0\0\0world");
    expect(d.stat("f.txt")).toMatchObject({ type: "file", size: 13, nlink: 1 });
  });

  it("truncates on open, and setSize grows with zeros and shrinks", () => {
    const d = make({ f: "abcdef" });
    const h = d.openFile("f", { write: true });
    h.setSize(3);
    expect(readAt(h, 0, 10)).toBe("abc");
    h.setSize(5);
    expect(readAt(h, 0, 10)).toBe("abc\0\0");
    h.close();
    d.openFile("f", { write: true, truncate: true }).close();
    expect(d.stat("f").size).toBe(0);
    expect(errnoOf(() => d.openFile("f", { truncate: true }))).toBe("EINVAL");
  });

  it("refuses what a handle cannot do: writing one opened to read, a closed handle, a bad position", () => {
    const d = make({ f: "abc" });
    const r = d.openFile("f", {});
    expect(errnoOf(() => r.write(enc.encode("x"), 0))).toBe("EBADF");
    expect(errnoOf(() => r.setSize(0))).toBe("EBADF");
    expect(errnoOf(() => r.read(new Uint8Array(1), -1))).toBe("EINVAL");
    expect(errnoOf(() => r.read(new Uint8Array(1), 0.5))).toBe("EINVAL");
    r.close();
    r.close(); // twice is harmless
    expect(errnoOf(() => r.read(new Uint8Array(1), 0))).toBe("EBADF");
    expect(errnoOf(() => r.stat())).toBe("EBADF");
    expect(errnoOf(() => r.sync())).toBe("EBADF");
    expect(readAll(d, "f")).toBe("abc");
  });

  it("opens with create, exclusive and without: EEXIST, ENOENT, EISDIR as open(2) says", () => {
    const d = make({ f: "abc", "dir/x": "x" });
    expect(errnoOf(() => d.openFile("f", { create: true, exclusive: true, write: true }))).toBe("EEXIST");
    d.openFile("f", { create: true, write: true }).close();
    expect(readAll(d, "f")).toBe("abc");
    expect(errnoOf(() => d.openFile("missing", {}))).toBe("ENOENT");
    expect(errnoOf(() => d.openFile("missing", { write: true }))).toBe("ENOENT");
    expect(errnoOf(() => d.openFile("nodir/f", { create: true, write: true }))).toBe("ENOENT");
    expect(errnoOf(() => d.openFile("dir", {}))).toBe("EISDIR");
    expect(errnoOf(() => d.openFile("dir", { write: true }))).toBe("EISDIR");
    expect(errnoOf(() => d.openFile("dir", { create: true }))).toBe("EISDIR");
    expect(errnoOf(() => d.openFile("dir", { create: true, exclusive: true }))).toBe("EEXIST");
    expect(errnoOf(() => d.openFile("", {}))).toBe("EISDIR");
    expect(errnoOf(() => d.openFile("", { create: true, exclusive: true }))).toBe("EEXIST");
    d.openFile("new", { create: true, exclusive: true }).close();
    expect(d.stat("new")).toMatchObject({ type: "file", size: 0 });
  });

  it("stats files, directories and the root; inode numbers are stable and agree with list", () => {
    const d = make({ "a/b.txt": "bee" });
    expect(d.stat("").type).toBe("directory");
    expect(d.stat("a").type).toBe("directory");
    const st = d.stat("a/b.txt");
    expect(st).toMatchObject({ type: "file", size: 3 });
    expect(typeof st.ino).toBe("bigint");
    expect(d.list("a")).toEqual([{ name: "b.txt", type: "file", ino: st.ino }]);
    expect(d.stat("a").ino).not.toBe(st.ino);
    d.rename("a/b.txt", "c.txt");
    expect(d.stat("c.txt").ino).toBe(st.ino);
    expect(errnoOf(() => d.stat("missing"))).toBe("ENOENT");
    expect(errnoOf(() => d.stat("a/missing/x"))).toBe("ENOENT");
  });

  it("lists a directory sorted by name, with types, without . and ..", () => {
    const d = make({ z: "", b: "", B: "", "a.txt": "", "sub/inner": "" });
    d.mkdir("m");
    expect(d.list("").map((e) => [e.name, e.type])).toEqual([
      ["B", "file"],
      ["a.txt", "file"],
      ["b", "file"],
      ["m", "directory"],
      ["sub", "directory"],
      ["z", "file"],
    ]);
    expect(d.list("m")).toEqual([]);
    expect(errnoOf(() => d.list("z"))).toBe("ENOTDIR");
    expect(errnoOf(() => d.list("nope"))).toBe("ENOENT");
  });

  it("makes and removes directories: EEXIST, ENOTEMPTY, ENOTDIR, and the root stays", () => {
    const d = make({ f: "x" });
    d.mkdir("a");
    d.mkdir("a/b");
    expect(errnoOf(() => d.mkdir("a"))).toBe("EEXIST");
    expect(errnoOf(() => d.mkdir("f"))).toBe("EEXIST");
    expect(errnoOf(() => d.mkdir(""))).toBe("EEXIST");
    expect(errnoOf(() => d.mkdir("x/y"))).toBe("ENOENT");
    expect(errnoOf(() => d.rmdir("a"))).toBe("ENOTEMPTY");
    expect(errnoOf(() => d.rmdir("f"))).toBe("ENOTDIR");
    expect(errnoOf(() => d.rmdir("nope"))).toBe("ENOENT");
    expect(errnoOf(() => d.rmdir(""))).toBe("EINVAL");
    d.rmdir("a/b");
    d.rmdir("a");
    expect(d.list("").map((e) => e.name)).toEqual(["f"]);
  });

  it("unlinks files; a directory is EISDIR; an open file stays readable after its name goes", () => {
    const d = make({ f: "still here", "dir/x": "" });
    const h = d.openFile("f", {});
    d.unlink("f");
    expect(errnoOf(() => d.stat("f"))).toBe("ENOENT");
    expect(readAt(h, 0, 20)).toBe("still here");
    h.close();
    expect(errnoOf(() => d.unlink("dir"))).toBe("EISDIR");
    expect(errnoOf(() => d.unlink(""))).toBe("EISDIR");
    expect(errnoOf(() => d.unlink("f"))).toBe("ENOENT");
    expect(d.list("dir").map((e) => e.name)).toEqual(["x"]);
  });

  it("renames a file over another, and a directory with what it holds", () => {
    const d = make({ from: "new", to: "old", "dir/inner/deep.txt": "deep" });
    d.rename("from", "to");
    expect(readAll(d, "to")).toBe("new");
    expect(errnoOf(() => d.stat("from"))).toBe("ENOENT");
    d.rename("dir", "moved");
    expect(readAll(d, "moved/inner/deep.txt")).toBe("deep");
    expect(errnoOf(() => d.stat("dir"))).toBe("ENOENT");
    d.mkdir("empty");
    d.rename("moved/inner", "empty"); // an empty directory is replaced
    expect(d.list("empty").map((e) => e.name)).toEqual(["deep.txt"]);
    d.rename("to", "to"); // the same entry: nothing happens
    expect(readAll(d, "to")).toBe("new");
  });

  it("refuses the renames rename(2) refuses, with its errors", () => {
    const d = make({ f: "f", "full/x": "x", "a/b/c": "c" });
    d.mkdir("e");
    expect(errnoOf(() => d.rename("missing", "x"))).toBe("ENOENT");
    expect(errnoOf(() => d.rename("f", "nodir/x"))).toBe("ENOENT");
    expect(errnoOf(() => d.rename("f", "f/x"))).toBe("ENOTDIR");
    expect(errnoOf(() => d.rename("f", "e"))).toBe("EISDIR");
    expect(errnoOf(() => d.rename("e", "f"))).toBe("ENOTDIR");
    expect(errnoOf(() => d.rename("e", "full"))).toBe("ENOTEMPTY");
    expect(errnoOf(() => d.rename("a", "a/b/inside"))).toBe("EINVAL");
    expect(errnoOf(() => d.rename("a/b", "a"))).toBe("ENOTEMPTY");
    expect(errnoOf(() => d.rename("", "x"))).toBe("EINVAL");
    expect(errnoOf(() => d.rename("f", ""))).toBe("EINVAL");
    expect(readAll(d, "f")).toBe("f");
    expect(readAll(d, "a/b/c")).toBe("c");
  });

  it("goes through a file as ENOTDIR, wherever the path is used", () => {
    const d = make({ f: "x" });
    expect(errnoOf(() => d.stat("f/x"))).toBe("ENOTDIR");
    expect(errnoOf(() => d.list("f/x"))).toBe("ENOTDIR");
    expect(errnoOf(() => d.openFile("f/x", { create: true, write: true }))).toBe("ENOTDIR");
    expect(errnoOf(() => d.mkdir("f/x"))).toBe("ENOTDIR");
    expect(errnoOf(() => d.unlink("f/x"))).toBe("ENOTDIR");
    expect(errnoOf(() => d.readlink("f/x"))).toBe("ENOTDIR");
  });

  it("readlinks only symlinks: anything else is EINVAL, a missing entry ENOENT", () => {
    const d = make({ f: "x", "dir/y": "" });
    expect(errnoOf(() => d.readlink("f"))).toBe("EINVAL");
    expect(errnoOf(() => d.readlink("dir"))).toBe("EINVAL");
    expect(errnoOf(() => d.readlink(""))).toBe("EINVAL");
    expect(errnoOf(() => d.readlink("missing"))).toBe("ENOENT");
  });

  it("sets times by path and by handle; an undefined time keeps its value", () => {
    const d = make({ f: "x" });
    // Half seconds: exact in the double seconds Node's utimes takes, so the host keeps them to the ns.
    const t1 = 1_700_000_000_500_000_000n;
    const t2 = 1_600_000_000_500_000_000n;
    d.setTimes("f", t1, t2);
    expect(d.stat("f")).toMatchObject({ atimeNs: t1, mtimeNs: t2 });
    d.setTimes("f", undefined, t1);
    expect(d.stat("f")).toMatchObject({ atimeNs: t1, mtimeNs: t1 });
    const h = d.openFile("f", { write: true });
    h.setTimes(t2, undefined);
    expect(h.stat()).toMatchObject({ atimeNs: t2, mtimeNs: t1 });
    h.close();
    d.setTimes("", t1, t1);
    expect(d.stat("")).toMatchObject({ atimeNs: t1, mtimeNs: t1 });
    expect(errnoOf(() => d.setTimes("missing", t1, t1))).toBe("ENOENT");
  });

  it("keeps one file consistent under two handles", () => {
    const d = make();
    const a = d.openFile("shared", { create: true, write: true });
    const b = d.openFile("shared", { write: true });
    a.write(enc.encode("from a"), 0);
    expect(readAt(b, 0, 20)).toBe("from a");
    b.write(enc.encode("B"), 5);
    expect(readAt(a, 0, 20)).toBe("from B");
    b.setSize(4);
    expect(a.stat().size).toBe(4);
    expect(readAt(a, 0, 20)).toBe("from");
    expect(a.stat().ino).toBe(b.stat().ino);
    a.close();
    b.write(enc.encode("!"), 4);
    b.sync();
    b.close();
    expect(readAll(d, "shared")).toBe("from!");
  });

  it("read-only: every change is EROFS, reading still works, nothing changes", () => {
    const d = make({ f: "keep", "dir/x": "x" }, { readOnly: true });
    expect(d.readOnly).toBe(true);
    const t = 1_700_000_000_500_000_000n;
    expect(errnoOf(() => d.mkdir("new"))).toBe("EROFS");
    expect(errnoOf(() => d.rmdir("dir"))).toBe("EROFS");
    expect(errnoOf(() => d.unlink("f"))).toBe("EROFS");
    expect(errnoOf(() => d.rename("f", "g"))).toBe("EROFS");
    expect(errnoOf(() => d.setTimes("f", t, t))).toBe("EROFS");
    expect(errnoOf(() => d.openFile("f", { write: true }))).toBe("EROFS");
    expect(errnoOf(() => d.openFile("new", { create: true }))).toBe("EROFS");
    expect(errnoOf(() => d.openFile("f", { write: true, truncate: true }))).toBe("EROFS");
    const h = d.openFile("f", {});
    expect(errnoOf(() => h.write(enc.encode("x"), 0))).toBe("EBADF");
    expect(errnoOf(() => h.setSize(0))).toBe("EBADF");
    expect(errnoOf(() => h.setTimes(t, t))).toBe("EROFS");
    h.close();
    expect(readAll(d, "f")).toBe("keep");
    expect(d.list("").map((e) => e.name)).toEqual(["dir", "f"]);
    expect(d.stat("f").mtimeNs).not.toBe(t);
  });

  it("refuses a path that is not normalized with ENOTCAPABLE, in every call", () => {
    const d = make({ "a/b": "b", x: "x" });
    for (const bad of ["../x", "/etc/passwd", "a/../b", "a//b", "x\0y", "./x", "a/", "a/.", ".."]) {
      expect([bad, errnoOf(() => d.stat(bad))]).toEqual([bad, "ENOTCAPABLE"]);
      expect(errnoOf(() => d.list(bad))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.openFile(bad, { create: true, write: true }))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.mkdir(bad))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.rmdir(bad))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.unlink(bad))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.rename("x", bad))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.rename(bad, "y"))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.readlink(bad))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.setTimes(bad, 1n, 1n))).toBe("ENOTCAPABLE");
    }
    expect(readAll(d, "x")).toBe("x");
    expect(d.list("").map((e) => e.name)).toEqual(["a", "x"]);
  });

  it("refuses an over-long name or path with ENAMETOOLONG", () => {
    const d = make();
    expect(errnoOf(() => d.stat("n".repeat(256)))).toBe("ENAMETOOLONG");
    expect(errnoOf(() => d.stat("é".repeat(128)))).toBe("ENAMETOOLONG");
    expect(errnoOf(() => d.stat(Array(1000).fill("abcd").join("/")))).toBe("ENAMETOOLONG");
    expect(errnoOf(() => d.stat("n".repeat(255)))).toBe("ENOENT");
  });
});
