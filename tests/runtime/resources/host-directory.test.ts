// HostDirectory (runtime/resources/host-directory.ts) where it differs from a tree in memory: its
// options, the per-file byte limit, symlinks seen but never followed, hard links, the inode numbers
// the disk gives, and what it refuses to open. The shared behaviour is directory-behaviour.test.ts;
// escapes from the root are tests/security/host-directory.test.ts.
import { execFileSync } from "node:child_process";
import { linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { FsError } from "../../../runtime/resources/directory.js";
import { DEFAULT_HOST_MAX_FILE_BYTES, HostDirectory } from "../../../runtime/resources/host-directory.js";
import { errnoOf, refusal } from "../../helpers/errors.js";

const enc = new TextEncoder();
const base = mkdtempSync(join(tmpdir(), "dirs-host-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

let root: string;
let n = 0;
beforeEach(() => {
  root = join(base, `root-${n++}`);
  mkdirSync(root);
});

function hasCommand(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("HostDirectory options", () => {
  it("refuses a root that is missing or not a directory, naming it", async () => {
    const missing = join(base, "no-such-dir");
    const r = await refusal(() => new HostDirectory(missing));
    expect(r.code).toBe("invalid_option");
    expect(r.message).toContain(missing);
    const file = join(base, "a-file");
    writeFileSync(file, "x");
    const f = await refusal(() => new HostDirectory(file));
    expect(f.code).toBe("invalid_option");
    expect(f.message).toContain(file);
  });

  it("refuses a maxFileBytes that is not a byte count, naming it", async () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const r = await refusal(() => new HostDirectory(root, { maxFileBytes: bad }));
      expect(r.code).toBe("invalid_option");
      expect(r.message).toContain("maxFileBytes");
    }
    expect(new HostDirectory(root).maxFileBytes).toBe(DEFAULT_HOST_MAX_FILE_BYTES);
  });

  it("takes a root reached through a symlink (the embedder's choice) and confines to its real path", () => {
    writeFileSync(join(root, "f"), "via link");
    const alias = join(base, `alias-${n}`);
    symlinkSync(root, alias);
    const d = new HostDirectory(alias);
    expect(d.list("").map((e) => e.name)).toEqual(["f"]);
  });
});

describe("HostDirectory maxFileBytes", () => {
  it("refuses a write or setSize past it with EFBIG and writes nothing", () => {
    const d = new HostDirectory(root, { maxFileBytes: 8 });
    const h = d.openFile("f", { create: true, write: true });
    expect(h.write(enc.encode("12345678"), 0)).toBe(8);
    expect(errnoOf(() => h.write(enc.encode("9"), 8))).toBe("EFBIG");
    expect(errnoOf(() => h.write(enc.encode("xy"), 7))).toBe("EFBIG");
    expect(errnoOf(() => h.setSize(9))).toBe("EFBIG");
    h.setSize(4);
    h.close();
    expect(readFileSync(join(root, "f"), "utf8")).toBe("1234");
  });
});

describe("HostDirectory vectored reads and writes (readv, writev)", () => {
  it("fill the buffers in turn until the file ends, and write all of them, as one by one would", () => {
    const d = new HostDirectory(root);
    const h = d.openFile("f", { create: true, write: true });
    expect(h.writev!([enc.encode("abc"), new Uint8Array(0), enc.encode("defg")], 2)).toBe(7);
    expect(readFileSync(join(root, "f"), "latin1")).toBe("\0\0abcdefg");
    const a = new Uint8Array(4);
    const b = new Uint8Array(3);
    const c = new Uint8Array(5);
    // 9 bytes from 1: a and b full, c short at the end of the file.
    expect(h.readv!([a, b, c], 1)).toBe(8);
    expect(new TextDecoder().decode(a)).toBe("\0abc");
    expect(new TextDecoder().decode(b)).toBe("def");
    expect(new TextDecoder().decode(c.subarray(0, 1))).toBe("g");
    expect(h.readv!([a, b], 9)).toBe(0);
    h.close();
  });

  it("write the buffers before the one that passes maxFileBytes, then EFBIG", () => {
    const d = new HostDirectory(root, { maxFileBytes: 8 });
    const h = d.openFile("f", { create: true, write: true });
    expect(errnoOf(() => h.writev!([enc.encode("12345"), enc.encode("6789")], 0))).toBe("EFBIG");
    h.close();
    expect(readFileSync(join(root, "f"), "utf8")).toBe("12345");
  });
});

describe("HostDirectory symlinks inside the tree", () => {
  it("shows a symlink (stat, list, readlink) but never opens or lists through it", () => {
    writeFileSync(join(root, "target.txt"), "target");
    mkdirSync(join(root, "sub"));
    symlinkSync("target.txt", join(root, "link"));
    symlinkSync("sub", join(root, "dirlink"));
    const d = new HostDirectory(root);
    expect(d.stat("link").type).toBe("symlink");
    expect(d.stat("link").ino).toBe(lstatSync(join(root, "link"), { bigint: true }).ino);
    expect(d.readlink("link")).toBe("target.txt");
    expect(d.list("").map((e) => [e.name, e.type])).toEqual([
      ["dirlink", "symlink"],
      ["link", "symlink"],
      ["sub", "directory"],
      ["target.txt", "file"],
    ]);
    expect(errnoOf(() => d.openFile("link", {}))).toBe("ELOOP");
    expect(errnoOf(() => d.openFile("link", { write: true, create: true }))).toBe("ELOOP");
    expect(errnoOf(() => d.openFile("link", { write: true, create: true, exclusive: true }))).toBe("EEXIST");
    expect(errnoOf(() => d.list("dirlink"))).toBe("ELOOP");
    expect(errnoOf(() => d.stat("dirlink/x"))).toBe("ENOTCAPABLE");
    expect(errnoOf(() => d.rmdir("dirlink"))).toBe("ENOTDIR");
  });

  it("unlinks the link, not its target; renames the link itself", () => {
    writeFileSync(join(root, "target.txt"), "target");
    symlinkSync("target.txt", join(root, "link"));
    const d = new HostDirectory(root);
    d.rename("link", "moved");
    expect(d.readlink("moved")).toBe("target.txt");
    d.unlink("moved");
    expect(d.list("").map((e) => e.name)).toEqual(["target.txt"]);
    expect(readFileSync(join(root, "target.txt"), "utf8")).toBe("target");
  });
});

describe("HostDirectory files", () => {
  it("opens a hard link like any file (its name is inside); both names see the bytes", () => {
    writeFileSync(join(root, "a"), "shared");
    linkSync(join(root, "a"), join(root, "b"));
    const d = new HostDirectory(root);
    expect(d.stat("b")).toMatchObject({ type: "file", nlink: 2, ino: d.stat("a").ino });
    const h = d.openFile("b", { write: true });
    h.write(enc.encode("S"), 0);
    h.close();
    expect(readFileSync(join(root, "a"), "utf8")).toBe("Shared");
  });

  it("reports the disk's inode numbers and nanosecond times", () => {
    writeFileSync(join(root, "f"), "x");
    const d = new HostDirectory(root);
    const disk = lstatSync(join(root, "f"), { bigint: true });
    expect(d.stat("f")).toMatchObject({ ino: disk.ino, mtimeNs: disk.mtimeNs, ctimeNs: disk.ctimeNs, size: 1 });
    expect(d.list("")[0]!.ino).toBe(disk.ino);
  });

  it.runIf(hasCommand("mkfifo"))("refuses to open a FIFO (and does not hang on it)", () => {
    execFileSync("mkfifo", [join(root, "pipe")]);
    const d = new HostDirectory(root);
    expect(d.stat("pipe").type).toBe("other");
    expect(d.list("")).toMatchObject([{ name: "pipe", type: "other" }]);
    expect(errnoOf(() => d.openFile("pipe", {}))).toBe("EACCES");
    expect(errnoOf(() => d.openFile("pipe", { write: true }))).toBe("EACCES");
  });

  it("tells the guest no host path in its errors", () => {
    const d = new HostDirectory(root);
    for (const f of [() => d.stat("a/b"), () => d.openFile("x", {}), () => d.rmdir("nope")]) {
      expect(f).toThrow(FsError);
      expect(f).not.toThrow(root);
    }
  });
});
