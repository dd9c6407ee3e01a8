// The isolated child's file-system channel (runtime/host/wasi/remote-channel.ts): small writes held
// and sent together, small reads answered from one read-ahead window — fewer crossings, the same
// bytes — and what a buffered write that fails looks like: the file as unbuffered writes leave it,
// the error answered by the handle's next call and told in the log.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FS_ERRORS, type FsRequest, WASI_FS } from "../../../runtime/host/wasi/fs-wire.js";
import { READ_AHEAD_BYTES, RemoteFsChannel, WRITE_BEHIND_BYTES } from "../../../runtime/host/wasi/remote-channel.js";
import { RemoteDirectory } from "../../../runtime/host/wasi/remote-directory.js";
import type { RemoteAsk } from "../../../runtime/host/interface.js";
import { Engine, type FileHandle, FsError, HostDirectory, type SandboxKind } from "../../../runtime/index.js";
import { wat } from "../../helpers/wat.js";

const root = mkdtempSync(join(tmpdir(), "ferry-remote-channel-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * A synchronous parent for the channel: the file calls the channel sends, answered by a real
 * HostDirectory, every request counted. (The real parent, fs-server.ts, answers the same calls
 * asynchronously over a pipe.)
 */
function parentOver(dir: HostDirectory) {
  const files = new Map<number, FileHandle>();
  const sent: FsRequest[] = [];
  let next = 1;
  const answer = (r: FsRequest): { value: number; payload: Uint8Array } => {
    const none = new Uint8Array(0);
    switch (r.op) {
      case "openFile": {
        const [path, create, exclusive, truncate, write] = r.args as [string, boolean, boolean, boolean, boolean];
        files.set(next, dir.openFile(path, { create, exclusive, truncate, write }));
        return { value: next++, payload: none };
      }
      case "fileRead": {
        const into = new Uint8Array(r.args[0] as number);
        return { value: 0, payload: into.subarray(0, files.get(r.target)!.read(into, r.args[1] as number)) };
      }
      case "fileWrite":
        return { value: files.get(r.target)!.write(r.bytes.slice(), r.args[0] as number), payload: none };
      case "fileStat":
        return {
          value: 0,
          payload: new TextEncoder().encode(
            JSON.stringify({ ...files.get(r.target)!.stat(), ino: "1", atimeNs: "0", mtimeNs: "0", ctimeNs: "0" }),
          ),
        };
      case "fileClose":
        files.get(r.target)!.close();
        files.delete(r.target);
        return { value: 0, payload: none };
      default:
        throw new Error(`the test parent does not answer ${r.op}`);
    }
  };
  const ask: RemoteAsk = (call, request) => {
    expect(call).toBe(WASI_FS);
    const r = request as FsRequest;
    sent.push(r);
    try {
      return answer(r);
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      return { value: -1 - FS_ERRORS.indexOf(e.errno), payload: new TextEncoder().encode(e.message) };
    }
  };
  return { ask, sent, open: () => files.size, count: (op: string) => sent.filter((r) => r.op === op).length };
}

function setUp(name: string, maxFileBytes?: number) {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const parent = parentOver(new HostDirectory(dir, maxFileBytes === undefined ? {} : { maxFileBytes }));
  const log: string[] = [];
  const channel = new RemoteFsChannel(parent.ask, (line) => log.push(line));
  return { dir, parent, log, channel, tree: new RemoteDirectory(channel, 0, false) };
}

const line = (i: number) => new TextEncoder().encode(`line ${i}\n`);

describe("write-behind", () => {
  it("sends consecutive small writes as one request, and the file holds them all", () => {
    const { dir, parent, tree } = setUp("coalesce");
    const f = tree.openFile("out.txt", { create: true, write: true });
    let at = 0;
    let expected = "";
    for (let i = 0; i < 1000; i++) {
      at += f.write(line(i), at);
      expected += `line ${i}\n`;
    }
    expect(parent.count("fileWrite")).toBe(0);
    f.close();
    expect(parent.count("fileWrite")).toBe(1);
    expect(readFileSync(join(dir, "out.txt"), "utf8")).toBe(expected);
  });

  it("sends what it holds before any other call, so a read or a stat sees the writes", () => {
    const { parent, tree } = setUp("ordering");
    const w = tree.openFile("f", { create: true, write: true });
    w.write(new TextEncoder().encode("hello"), 0);
    expect(w.stat().size).toBe(5);
    w.write(new TextEncoder().encode(" world"), 5);
    const r = tree.openFile("f", {});
    const into = new Uint8Array(64);
    expect(new TextDecoder().decode(into.subarray(0, r.read(into, 0)))).toBe("hello world");
    expect(parent.count("fileWrite")).toBe(2);
  });

  it("starts a new request for a write elsewhere in the file, for another handle, and past its bound", () => {
    const { dir, parent, channel, tree } = setUp("breaks");
    const a = tree.openFile("a", { create: true, write: true });
    const b = tree.openFile("b", { create: true, write: true });
    a.write(new Uint8Array([1]), 0);
    a.write(new Uint8Array([3]), 2); // not where the last one ended
    b.write(new Uint8Array([9]), 0); // another handle
    const big = new Uint8Array(WRITE_BEHIND_BYTES).fill(7);
    b.write(big, 1); // too big to hold: goes at once, after what was held
    channel.settle();
    expect(parent.count("fileWrite")).toBe(4);
    expect([...readFileSync(join(dir, "a"))]).toEqual([1, 0, 3]);
    expect(readFileSync(join(dir, "b")).byteLength).toBe(WRITE_BEHIND_BYTES + 1);
  });

  it("leaves a file that a buffered write overflowed exactly as unbuffered writes would, and answers the error late", () => {
    const { dir, log, tree } = setUp("efbig", 100);
    const f = tree.openFile("capped", { create: true, write: true });
    const piece = new Uint8Array(16).fill(65);
    for (let i = 0; i < 6; i++) expect(f.write(piece, i * 16)).toBe(16); // 96 bytes: all held
    expect(f.write(piece, 96)).toBe(16); // would end at 112 > 100: held too, so it "succeeds"
    expect(() => f.stat()).toThrow(/EFBIG/); // the flush failed: the handle's next call answers it
    expect(readFileSync(join(dir, "capped")).byteLength).toBe(96); // the six that fit, as unbuffered
    expect(log.join("\n")).toMatch(/buffered write of 16 bytes at offset 96 failed \(EFBIG/);
    expect(f.stat().size).toBe(96); // answered once; the handle goes on
  });

  it("closes a handle at the parent even when its close answers a deferred error", () => {
    const { parent, tree } = setUp("close-deferred", 8);
    const f = tree.openFile("x", { create: true, write: true });
    f.write(new Uint8Array(16), 0);
    tree.settle!(); // the guest paused: the flush fails and is deferred
    expect(() => f.close()).toThrow(/EFBIG/);
    expect(parent.open()).toBe(0);
  });

  it("tells only a bounded number of deferred failures in the log", () => {
    const { log, tree } = setUp("log-bound", 0);
    const f = tree.openFile("y", { create: true, write: true });
    for (let i = 0; i < 50; i++) {
      f.write(new Uint8Array(1), 0);
      tree.settle!();
      expect(() => f.stat()).toThrow(/EFBIG/);
    }
    expect(log.length).toBeLessThanOrEqual(9);
    expect(log.at(-1)).toMatch(/not logged/);
  });
});

describe("read-ahead", () => {
  it("answers small sequential reads from one window, with the file's bytes", () => {
    const { dir, parent, tree } = setUp("read-ahead");
    const content = new Uint8Array(3 * READ_AHEAD_BYTES + 123).map((_, i) => (i * 7) % 251);
    writeFileSync(join(dir, "in"), content);
    const f = tree.openFile("in", {});
    const got: number[] = [];
    const into = new Uint8Array(1024);
    for (let at = 0; ; ) {
      const n = f.read(into, at);
      if (n === 0) break;
      got.push(...into.subarray(0, n));
      at += n;
    }
    expect(Uint8Array.from(got)).toEqual(content);
    expect(parent.count("fileRead")).toBeLessThanOrEqual(5);
  });

  it("drops the window on any other call, so the guest reads its own writes", () => {
    const { dir, tree } = setUp("read-own-write");
    writeFileSync(join(dir, "rw"), "aaaaaaaa");
    const f = tree.openFile("rw", { write: true });
    const into = new Uint8Array(2);
    f.read(into, 0); // the window now holds "aaaaaaaa"
    f.write(new TextEncoder().encode("bb"), 4);
    f.read(into, 4);
    expect(new TextDecoder().decode(into)).toBe("bb");
  });
});

// Writes 16-byte pieces to capped.txt until 100 were written, keeping each write's errno at 1000+i;
// then closes it (errno at 999) and writes the 101 errnos to stdout.
const WRITE_PAST_CAP = wat(`(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "capped.txt")
  (data (i32.const 200) "0123456789abcdef")
  (func (export "_start") (local $fd i32) (local $i i32)
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 10) (i32.const 9)
          (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 20)) (then unreachable))
    (local.set $fd (i32.load (i32.const 20)))
    (i32.store (i32.const 0) (i32.const 200))
    (i32.store (i32.const 4) (i32.const 16))
    (loop $l
      (i32.store8 (i32.add (i32.const 1000) (local.get $i))
        (call $write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
    (i32.store8 (i32.const 999) (call $close (local.get $fd)))
    (i32.store (i32.const 0) (i32.const 999))
    (i32.store (i32.const 4) (i32.const 101))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`);

describe("a buffered write that fails, end to end", () => {
  const engine = new Engine();
  afterAll(() => engine.close());
  const EFBIG = 22;

  async function run(sandbox: SandboxKind) {
    const dir = join(root, `e2e-${sandbox}`);
    mkdirSync(dir, { recursive: true });
    const module = await engine.compile(WRITE_PAST_CAP);
    const instance = await engine.instantiate(module, {
      sandbox,
      trust: "authenticated",
      wasi: { program: "cap", args: [], dirs: { "/d": new HostDirectory(dir, { maxFileBytes: 1000 }) } },
    });
    const result = await instance.run("_start");
    const [closeErrno, ...writeErrnos] = [...instance.output()];
    const logs = [...instance.logs()];
    instance.dispose();
    return { result, closeErrno, writeErrnos, logs, file: readFileSync(join(dir, "capped.txt")) };
  }

  it("gives the same file in both sandboxes; in-process the write fails at once, isolated by the close at the latest", async () => {
    const inProcess = await run("in-process");
    const isolated = await run("isolated");
    expect(inProcess.result.status).toBe("done");
    expect(isolated.result.status).toBe("done");
    expect(inProcess.file.byteLength).toBe(992); // 62 pieces of 16 fit under 1000
    expect(isolated.file).toEqual(inProcess.file);
    expect(inProcess.writeErrnos.indexOf(EFBIG)).toBe(62);
    expect(inProcess.closeErrno).toBe(0);
    // Isolated: every write was held, so the failure comes back at the close.
    expect(isolated.writeErrnos.every((e) => e === 0)).toBe(true);
    expect(isolated.closeErrno).toBe(EFBIG);
    expect(isolated.logs.join("\n")).toMatch(/buffered write .* failed/);
  });
});
