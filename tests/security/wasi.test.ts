// Attacks on WASI: a guest trying to leave its preopened directory (.., absolute paths, symlinks,
// NUL bytes, over-long names), exhausting the descriptor table, and snapshots whose resource segment
// names directories or paths the restoring instance was not given — in both sandboxes.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { programWasmPath, wordText } from "../../guest/programs/catalog.js";
import { FS_ERRORS, type FsRequest, WASI_FS } from "../../runtime/host/wasi/fs-wire.js";
import {
  CapabilitySet,
  Engine,
  HostDirectory,
  MAX_WASI_FDS,
  MemoryDirectory,
  type SandboxKind,
  type Snapshot,
} from "../../runtime/index.js";
import { HostCallServer } from "../../runtime/sandbox/isolated/host-call-server.js";
import { decodeAnswer, encodeRequest, HostCallViolation } from "../../runtime/sandbox/isolated/host-calls.js";
import { refusal } from "../helpers/errors.js";
import { wat } from "../helpers/wat.js";

const root = mkdtempSync(join(tmpdir(), "ferry-wasi-attack-"));
const jail = join(root, "jail");
mkdirSync(join(jail, "sub"), { recursive: true });
writeFileSync(join(root, "secret"), "outside");
writeFileSync(join(jail, "ok.txt"), "inside");
symlinkSync(join(root, "secret"), join(jail, "link-out"));
symlinkSync(root, join(jail, "dir-link"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const engine = new Engine();
afterAll(() => engine.close());

// Reads a path from stdin, opens it under fd 3 (the one preopen), exits with the errno.
const OPEN_FROM_STDIN = wat(`(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 8192))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
    (call $exit (call $open (i32.const 3) (i32.const 1) (i32.const 1024) (i32.load (i32.const 16))
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 20)))))`);

// Opens ok.txt until an open fails; exits with that errno.
const OPEN_FOREVER = wat(`(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "ok.txt")
  (func (export "_start") (local $e i32)
    (loop $again
      (local.set $e (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 6)
        (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 20)))
      (br_if $again (i32.eqz (local.get $e))))
    (call $exit (local.get $e))))`);

const ERRNO = { SUCCESS: 0, LOOP: 32, MFILE: 33, NAMETOOLONG: 37, NOTCAPABLE: 76 };

async function exitCodeOf(bytes: Uint8Array, sandbox: SandboxKind, input: Uint8Array = new Uint8Array(0)): Promise<number | undefined> {
  const module = await engine.compile(bytes);
  const instance = await engine.instantiate(module, {
    sandbox,
    trust: "authenticated",
    input,
    wasi: { dirs: { "/jail": new HostDirectory(jail) } },
  });
  const r = await instance.run("_start", [], { fuel: 1_000_000 });
  let result = r;
  while (result.status === "paused") result = await instance.resume({ fuel: 1_000_000 });
  instance.dispose();
  if (result.status !== "done") throw new Error(`ended ${result.status}: ${JSON.stringify(result)}`);
  return result.exitCode;
}

const ESCAPES: Array<[string, string | Uint8Array, number[]]> = [
  ["a parent of the preopen", "../secret", [ERRNO.NOTCAPABLE]],
  ["an absolute path", "/etc/passwd", [ERRNO.NOTCAPABLE]],
  ["a .. that climbs out midway", "sub/../../secret", [ERRNO.NOTCAPABLE]],
  ["a symlink to a file outside", "link-out", [ERRNO.LOOP, ERRNO.NOTCAPABLE]],
  ["a path through a symlink to a directory outside", "dir-link/secret", [ERRNO.NOTCAPABLE, ERRNO.LOOP]],
  ["a NUL byte", new Uint8Array([...Buffer.from("ok.txt"), 0, ...Buffer.from("x")]), [ERRNO.NOTCAPABLE]],
  ["a name longer than NAME_MAX", "x".repeat(300), [ERRNO.NAMETOOLONG]],
];

describe.each(["in-process", "isolated"] as const)("a WASI guest trying to leave its preopen (%s)", (sandbox) => {
  it.each(ESCAPES)("is refused: %s", async (_what, path, errnos) => {
    const code = await exitCodeOf(OPEN_FROM_STDIN, sandbox, typeof path === "string" ? Buffer.from(path) : path);
    expect(errnos).toContain(code);
    expect(readFileSync(join(root, "secret"), "utf8")).toBe("outside");
  });

  it("opens what is inside", async () => {
    expect(await exitCodeOf(OPEN_FROM_STDIN, sandbox, Buffer.from("sub/../ok.txt"))).toBe(ERRNO.SUCCESS);
  });

  it(`cannot hold more than ${MAX_WASI_FDS} descriptors: EMFILE, and the host keeps running`, async () => {
    expect(await exitCodeOf(OPEN_FOREVER, sandbox)).toBe(ERRNO.MFILE);
  });
});

describe("who may be given which directories", () => {
  it("anonymous code is refused a directory of the host, and may have an in-memory one", async () => {
    const module = await engine.compile(OPEN_FROM_STDIN);
    const refused = await refusal(engine.instantiate(module, { wasi: { dirs: { "/jail": new HostDirectory(jail) } } }));
    expect(refused.code).toBe("invalid_option");
    expect(refused.message).toContain("in-memory");
    const instance = await engine.instantiate(module, {
      input: Buffer.from("ok.txt"),
      wasi: { dirs: { "/jail": new MemoryDirectory({ files: { "ok.txt": "x" } }) } },
    });
    const r = await instance.run("_start");
    expect(r).toMatchObject({ status: "done", exitCode: ERRNO.SUCCESS });
  });
});

describe("a snapshot's resource segment, at restore", () => {
  async function pausedLz(): Promise<{ snapshot: Snapshot; dir: string }> {
    const dir = mkdtempSync(join(root, "lz-"));
    writeFileSync(join(dir, "words.txt"), wordText(20_000, 5));
    const module = await engine.compile(readFileSync(programWasmPath("c-lz")));
    const instance = await engine.instantiate(module, {
      sandbox: "in-process",
      trust: "authenticated",
      wasi: { args: ["/data/words.txt", "/data/words.lz"], dirs: { "/data": new HostDirectory(dir) } },
    });
    // Paused in small slices until a file is open in the resource segment.
    let r = await instance.run("_start", [], { fuel: 5_000 });
    while (r.status === "paused") {
      const snapshot = await instance.snapshot();
      const fds = (snapshot.resources!.wasi as { fds: Array<{ kind: string }> }).fds;
      if (fds.some((f) => f.kind === "file")) {
        instance.dispose();
        return { snapshot, dir };
      }
      r = await instance.resume({ fuel: 5_000 });
    }
    throw new Error(`c-lz ended (${r.status}) without a pause with a file open`);
  }

  const restoreWith = (snapshot: Snapshot, dirs: Record<string, HostDirectory>) =>
    engine.restore(snapshot, { sandbox: "in-process", trust: "authenticated", wasi: { dirs } });

  it("names the directories it had open files in, and is refused where they were not given", async () => {
    const { snapshot, dir } = await pausedLz();
    const wasi = snapshot.resources?.wasi as { fds: Array<{ kind: string; tree?: string; path: string }> };
    expect(wasi.fds.some((f) => f.kind === "file" && f.tree === "/data" && f.path === "words.txt")).toBe(true);
    const refused = await refusal(restoreWith(snapshot, { "/elsewhere": new HostDirectory(dir) }));
    expect(refused.code).toBe("snapshot_resources");
    expect(refused.message).toContain("/data");
  });

  it("is refused when a descriptor's path was rewritten to climb out of its directory", async () => {
    const { snapshot, dir } = await pausedLz();
    const wasi = snapshot.resources?.wasi as { fds: Array<{ kind: string; path: string }> };
    wasi.fds.find((f) => f.kind === "file")!.path = "../secret";
    const refused = await refusal(restoreWith(snapshot, { "/data": new HostDirectory(dir) }));
    expect(refused.code).toBe("snapshot_resources");
  });

  it("is refused when it is not well formed", async () => {
    const { snapshot, dir } = await pausedLz();
    (snapshot.resources!.wasi as { fds: unknown }).fds = "everything";
    expect((await refusal(restoreWith(snapshot, { "/data": new HostDirectory(dir) }))).code).toBe("snapshot_malformed");
  });
});

describe("the parent's WASI file-system server, as a subverted child sees it", () => {
  const fs = (op: FsRequest["op"], target: number, args: unknown[], bytes = new Uint8Array(0)) =>
    encodeRequest(WASI_FS, { op, target, args, bytes });
  const serverOn = () =>
    new HostCallServer({
      capabilities: new CapabilitySet([]),
      provider: { open: () => undefined },
      directories: [new HostDirectory(jail)],
    });
  const answer = async (server: HostCallServer, body: Uint8Array) => decodeAnswer(await server.serve(body));

  it("refuses paths the WASI layer would never send: not normalized, absolute, climbing out (ENOTCAPABLE), and never touches outside", async () => {
    const server = serverOn();
    for (const path of ["../secret", "/etc/passwd", "sub/../../secret", "a//b", "./ok.txt", "x\0y"]) {
      const a = await answer(server, fs("openFile", 0, [path, false, false, false, false]));
      expect([path, a.ok && a.value]).toEqual([path, -1 - FS_ERRORS.indexOf("ENOTCAPABLE")]);
    }
    const through = await answer(server, fs("openFile", 0, ["dir-link/secret", false, false, true, true]));
    expect(through.ok && through.value).toBeLessThan(0);
    expect(readFileSync(join(root, "secret"), "utf8")).toBe("outside");
  });

  it("answers EBADF for a directory it was not given and a file handle that is not open", async () => {
    const server = serverOn();
    const ebadf = -1 - FS_ERRORS.indexOf("EBADF");
    expect(await answer(server, fs("stat", 7, ["ok.txt"]))).toMatchObject({ ok: true, value: ebadf });
    expect(await answer(server, fs("fileRead", 42, [10, 0]))).toMatchObject({ ok: true, value: ebadf });
  });

  it("holds a child that breaks the wire's rules (unknown op, wrong argument shape, bytes where none belong) as a violation", async () => {
    const server = serverOn();
    const bad = [
      encodeRequest(WASI_FS, { op: "stat", target: 0, args: [1], bytes: new Uint8Array(0) }),
      encodeRequest(WASI_FS, { op: "openFile", target: 0, args: ["ok.txt"], bytes: new Uint8Array(0) }),
      encodeRequest(WASI_FS, { op: "stat", target: 0, args: ["ok.txt"], bytes: new Uint8Array(3) }),
      encodeRequest(WASI_FS, { op: "fileRead", target: 1, args: [-1, 0], bytes: new Uint8Array(0) }),
    ];
    for (const body of bad) await expect(server.serve(body)).rejects.toBeInstanceOf(HostCallViolation);
  });

  it(`bounds the files a child may hold open at ${MAX_WASI_FDS}, and closes them all when the instance is abandoned`, async () => {
    const server = serverOn();
    let last = 0;
    for (let i = 0; i <= MAX_WASI_FDS; i++) {
      const a = await answer(server, fs("openFile", 0, ["ok.txt", false, false, false, false]));
      last = a.ok ? a.value : 0;
    }
    expect(last).toBe(-1 - FS_ERRORS.indexOf("EMFILE"));
    expect(server.openHandles).toBe(MAX_WASI_FDS);
    server.abandon();
    expect(server.openHandles).toBe(0);
  });
});
