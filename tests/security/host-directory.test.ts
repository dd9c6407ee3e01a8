// Attacks on HostDirectory's confinement (runtime/resources/host-directory.ts): symlinks inside the
// root that point outside it (to a file, to a directory, absolute and relative), a directory swapped
// for such a symlink between two calls and after a call's own walk, paths that are not normalized,
// and a hard link (which is inside). Whatever the attack, the files outside the root keep their bytes.
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Directory } from "../../runtime/resources/directory.js";
import { HostDirectory } from "../../runtime/resources/host-directory.js";
import { errnoOf } from "../helpers/errors.js";

let base: string;
let root: string;
let outside: string;
let before: Map<string, string>;

/** Every entry under `dir` with its bytes (files), "dir" or "link -> target": what must not change. */
function contents(dir: string, into = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const key = relative(outside, path);
    if (entry.isDirectory()) {
      into.set(key, "dir");
      contents(path, into);
    } else if (entry.isFile()) into.set(key, readFileSync(path, "latin1"));
    else into.set(key, "other");
  }
  return into;
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "dirs-attack-"));
  root = join(base, "root");
  outside = join(base, "outside");
  mkdirSync(root);
  mkdirSync(join(outside, "sub"), { recursive: true });
  writeFileSync(join(outside, "secret"), "the secret");
  writeFileSync(join(outside, "sub", "deeper"), "deeper secret");
  writeFileSync(join(outside, "shared"), "reachable by a hard link");
  writeFileSync(join(root, "ok.txt"), "fine");
  symlinkSync(join(outside, "secret"), join(root, "fileLink"));
  symlinkSync(outside, join(root, "dirLink"));
  symlinkSync("../outside", join(root, "relLink"));
  symlinkSync("../outside/secret", join(root, "relFileLink"));
  linkSync(join(outside, "shared"), join(root, "hard"));
  before = contents(outside);
});

afterAll(() => {
  // The point of the file: nothing outside the root was read into, written, made or removed.
  expect(contents(outside)).toEqual(before);
  rmSync(base, { recursive: true, force: true });
});

function dir(): Directory {
  return new HostDirectory(root);
}

describe("a symlink inside the root pointing outside", () => {
  it("cannot be opened, however it is opened", () => {
    const d = dir();
    for (const link of ["fileLink", "relFileLink", "dirLink", "relLink"]) {
      expect(errnoOf(() => d.openFile(link, {}))).toBe("ELOOP");
      expect(errnoOf(() => d.openFile(link, { write: true }))).toBe("ELOOP");
      expect(errnoOf(() => d.openFile(link, { write: true, truncate: true }))).toBe("ELOOP");
      expect(errnoOf(() => d.openFile(link, { write: true, create: true }))).toBe("ELOOP");
      expect(errnoOf(() => d.openFile(link, { write: true, create: true, exclusive: true }))).toBe("EEXIST");
    }
  });

  it("cannot be listed, stat'ed, opened or written through", () => {
    const d = dir();
    for (const link of ["dirLink", "relLink"]) {
      expect(errnoOf(() => d.list(link))).toBe("ELOOP");
      expect(errnoOf(() => d.list(`${link}/sub`))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.stat(`${link}/secret`))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.stat(`${link}/sub/deeper`))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.openFile(`${link}/secret`, {}))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.openFile(`${link}/secret`, { write: true, truncate: true }))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.openFile(`${link}/new`, { write: true, create: true }))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.readlink(`${link}/secret`))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.mkdir(`${link}/made`))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.rmdir(`${link}/sub`))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.unlink(`${link}/secret`))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.setTimes(`${link}/secret`, 1n, 1n))).toBe("ENOTCAPABLE");
    }
  });

  it("cannot be renamed into or out of", () => {
    const d = dir();
    expect(errnoOf(() => d.rename("ok.txt", "dirLink/stolen"))).toBe("ENOTCAPABLE");
    expect(errnoOf(() => d.rename("ok.txt", "dirLink/secret"))).toBe("ENOTCAPABLE");
    expect(errnoOf(() => d.rename("ok.txt", "relLink/sub/deeper"))).toBe("ENOTCAPABLE");
    expect(errnoOf(() => d.rename("dirLink/secret", "taken"))).toBe("ENOTCAPABLE");
    expect(errnoOf(() => d.rename("relLink/sub", "taken"))).toBe("ENOTCAPABLE");
    expect(readFileSync(join(root, "ok.txt"), "utf8")).toBe("fine");
  });

  it("has its own times set, never its target's", () => {
    const d = dir();
    const targetMtime = statSync(join(outside, "secret"), { bigint: true }).mtimeNs;
    d.setTimes("fileLink", 1_500_000_000_500_000_000n, 1_500_000_000_500_000_000n);
    expect(d.stat("fileLink").mtimeNs).toBe(1_500_000_000_500_000_000n);
    expect(statSync(join(outside, "secret"), { bigint: true }).mtimeNs).toBe(targetMtime);
  });
});

describe("a directory swapped for a symlink", () => {
  it("between two calls: the next call refuses it", () => {
    mkdirSync(join(root, "swap"));
    writeFileSync(join(root, "swap", "secret"), "mine");
    const d = dir();
    const held = d.openFile("swap/secret", {});
    expect(d.list("swap").map((e) => e.name)).toEqual(["secret"]);
    renameSync(join(root, "swap"), join(root, "swapped-away"));
    symlinkSync(outside, join(root, "swap"));
    expect(errnoOf(() => d.stat("swap/secret"))).toBe("ENOTCAPABLE");
    expect(errnoOf(() => d.openFile("swap/secret", {}))).toBe("ENOTCAPABLE");
    expect(errnoOf(() => d.openFile("swap/secret", { write: true, truncate: true }))).toBe("ENOTCAPABLE");
    expect(errnoOf(() => d.list("swap"))).toBe("ELOOP");
    // What was opened before the swap is still the tree's own file.
    const buf = new Uint8Array(10);
    expect(new TextDecoder().decode(buf.subarray(0, held.read(buf, 0)))).toBe("mine");
    held.close();
  });

  // After the walk and before the open: what O_NOFOLLOW cannot see (it guards the last component
  // only) the descriptor's own path shows. A subclass swaps the directory at exactly that moment.
  it.runIf(process.platform === "linux")("after a call's walk, before its open: the opened file is refused, nothing is truncated", () => {
    mkdirSync(join(root, "race"));
    writeFileSync(join(root, "race", "secret"), "inside");
    let swaps = 0;
    class Racing extends HostDirectory {
      protected override parentOf(segments: string[], path: string): string {
        const parent = super.parentOf(segments, path);
        if (segments[0] === "race") {
          renameSync(join(root, "race"), join(root, `race-away-${swaps++}`));
          symlinkSync(outside, join(root, "race"));
        }
        return parent;
      }
    }
    const d = new Racing(root);
    expect(errnoOf(() => d.openFile("race/secret", {}))).toBe("ENOTCAPABLE");
    rmSync(join(root, "race"));
    mkdirSync(join(root, "race"));
    expect(errnoOf(() => d.openFile("race/secret", { write: true, truncate: true }))).toBe("ENOTCAPABLE");
    expect(readFileSync(join(outside, "secret"), "utf8")).toBe("the secret");
  });
});

describe("paths", () => {
  it("not normalized are ENOTCAPABLE before anything is looked up", () => {
    const d = dir();
    for (const bad of [
      "../outside/secret",
      "/etc/passwd",
      `${outside}/secret`,
      "ok.txt/../../outside/secret",
      "a//b",
      "x\0y",
      "relLink/../ok.txt",
    ]) {
      expect(errnoOf(() => d.openFile(bad, {}))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.openFile(bad, { write: true, create: true, truncate: true }))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.stat(bad))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.list(bad))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.unlink(bad))).toBe("ENOTCAPABLE");
      expect(errnoOf(() => d.rename("ok.txt", bad))).toBe("ENOTCAPABLE");
    }
    expect(readFileSync(join(root, "ok.txt"), "utf8")).toBe("fine");
  });

  it("a hard link is inside: it opens, and its bytes are the file's", () => {
    const d = dir();
    const h = d.openFile("hard", {});
    const buf = new Uint8Array(64);
    expect(new TextDecoder().decode(buf.subarray(0, h.read(buf, 0)))).toBe("reachable by a hard link");
    h.close();
    expect(d.stat("hard")).toMatchObject({ type: "file", nlink: 2 });
  });
});
