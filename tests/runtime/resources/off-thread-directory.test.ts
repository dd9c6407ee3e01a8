// OffThreadDirectory (runtime/resources/off-thread-directory.ts): a HostDirectory served in the
// resource worker thread. The same answers and POSIX error names as a HostDirectory over the same
// tree, every call answered on the worker's thread (never the caller's), the tree made under its base
// without following a symlink, and a file open in a worker that dies lost (EIO), not silently reopened.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { threadId } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import { HostDirectory, isAsyncDirectory, normalizePlacement, OffThreadDirectory, ResourceThread } from "../../../runtime/index.js";
import { rejectedErrno } from "../../helpers/errors.js";

const base = mkdtempSync(join(tmpdir(), "nodewasi-offthread-"));
const thread = new ResourceThread({ idleMs: 0 });
afterAll(async () => {
  await thread.close();
  rmSync(base, { recursive: true, force: true });
});

describe("OffThreadDirectory", () => {
  it("answers as a HostDirectory over the same tree does, from the worker's thread", async () => {
    const d = new OffThreadDirectory(base, "same", { create: true }, thread);
    expect(isAsyncDirectory(d)).toBe(true);
    const f = await d.openFile("a.txt", { create: true, write: true });
    expect(await f.write(new TextEncoder().encode("hello world"), 0)).toBe(11);
    await f.setSize(5);
    await f.sync();
    await f.close();
    await d.mkdir("sub");
    await d.rename("a.txt", "sub/b.txt");
    const host = new HostDirectory(join(base, "same"));
    expect(await d.list("")).toEqual(host.list(""));
    expect((await d.stat("sub/b.txt")).size).toBe(host.stat("sub/b.txt").size);
    const r = await d.openFile("sub/b.txt", {});
    const into = new Uint8Array(16);
    expect(new TextDecoder().decode(into.subarray(0, await r.read(into, 0)))).toBe("hello");
    await r.close();
    for (const [call, errno] of [
      [d.stat("missing"), "ENOENT"],
      [d.rmdir("sub"), "ENOTEMPTY"],
      [d.openFile("sub", {}), "EISDIR"],
      [d.mkdir("sub"), "EEXIST"],
    ] as const)
      expect(await rejectedErrno(call)).toBe(errno);
    const stats = thread.stats;
    expect(stats.served).toBeGreaterThan(10);
    expect(stats.servedOn).not.toContain(threadId);
  });

  it("makes its tree under the base when asked, never through a symlink, and a read-only one refuses writes", async () => {
    expect(await rejectedErrno(new OffThreadDirectory(base, "absent", {}, thread).stat(""))).toBe("ENOENT");
    const made = new OffThreadDirectory(base, "x/y/z", { create: true }, thread);
    expect((await made.stat("")).type).toBe("directory");
    const outside = mkdtempSync(join(tmpdir(), "nodewasi-outside-"));
    symlinkSync(outside, join(base, "link"));
    expect(await rejectedErrno(new OffThreadDirectory(base, "link/in", { create: true }, thread).stat(""))).toBe("ENOTDIR");
    rmSync(outside, { recursive: true, force: true });
    mkdirSync(join(base, "ro"));
    writeFileSync(join(base, "ro", "f"), "x");
    const ro = new OffThreadDirectory(base, "ro", { readOnly: true }, thread);
    expect(await rejectedErrno(ro.openFile("f", { write: true }))).toBe("EROFS");
    expect(await rejectedErrno(ro.unlink("f"))).toBe("EROFS");
  });

  it("writes a view of a larger buffer (a Buffer's slice) without taking or sending the rest of it", async () => {
    const tree = new OffThreadDirectory(base, "views", { create: true }, thread);
    const whole = Buffer.alloc(3 << 20, 0x61);
    const view = whole.subarray(1 << 20, (1 << 20) + 10);
    const file = await tree.openFile("f", { create: true, write: true });
    expect(await file.write(view, 0)).toBe(10);
    expect(await file.write(whole, 10)).toBe(1 << 20); // a short write: one host call's worth
    await file.close();
    // The caller's buffer is intact (never detached by a transfer) and the file holds exactly what was asked.
    expect(whole.byteLength).toBe(3 << 20);
    expect(view.toString()).toBe("aaaaaaaaaa");
    expect((await tree.stat("f")).size).toBe(10 + (1 << 20));
  });

  it("refuses a base that is not absolute and a path that climbs or is not normalized", () => {
    expect(() => new OffThreadDirectory("relative", "a")).toThrow(/absolute/);
    expect(() => new OffThreadDirectory(base, "../a")).toThrow(/climbs/);
    expect(() => new OffThreadDirectory(base, "a//b")).toThrow(/normalized/);
  });

  it("is given to either sandbox: its calls are awaited (the guest unwinds at each, Pausing.settle)", () => {
    const dirs = { "/d": new OffThreadDirectory(base, "p", { create: true }, thread) };
    const isolated = normalizePlacement({ trust: "authenticated", sandbox: "isolated", wasi: { dirs } });
    expect(isolated.wasi.preopens[0]?.directory).toBe(dirs["/d"]);
    const inProcess = normalizePlacement({ trust: "authenticated", sandbox: "in-process", wasi: { dirs } });
    expect(inProcess.wasi.preopens[0]?.directory).toBe(dirs["/d"]);
  });

  it("loses a file open in a worker that dies (EIO), and serves new calls from the next worker", async () => {
    const d = new OffThreadDirectory(base, "lost", { create: true }, thread);
    const f = await d.openFile("f", { create: true, write: true });
    await thread.kill();
    expect(await rejectedErrno(f.write(new Uint8Array([1]), 0))).toBe("EIO");
    await f.close();
    expect((await d.stat("f")).type).toBe("file");
  });
});
