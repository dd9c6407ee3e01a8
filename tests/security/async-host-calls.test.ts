// Attacks on asynchronous host calls (docs/resource-segment.md): a far directory that lies about
// what it read, or throws things that are not errors, cannot make the guest read past its buffer or
// crash the host; a far end that never answers costs the guest EIO, never a hang — in both sandboxes.
import { afterAll, describe, expect, it } from "vitest";
import { ERRNO } from "../../runtime/host/wasi/abi.js";
import {
  type AsyncDirectory,
  type AsyncFileHandle,
  Engine,
  type EntryStat,
  FsError,
  type Instance,
  type RunResult,
} from "../../runtime/index.js";
import { wat } from "../helpers/wat.js";

const engine = new Engine();
/** Deadline of awaited calls where one must expire and others must not. */
const DEADLINE_MS = 500;
afterAll(() => engine.close());

// open(): path_open "f.txt" for reading (fd at 16); read(): fd_read 8 bytes into 256 (count at 48);
// guard(): the 8 bytes after the buffer, which must stay 0xAB.
const READER = `(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "f.txt")
  (data (i32.const 32) "\\00\\01\\00\\00\\08\\00\\00\\00")
  (data (i32.const 264) "\\ab\\ab\\ab\\ab\\ab\\ab\\ab\\ab")
  (func (export "open") (result i32)
    (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 5) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16)))
  (func (export "read") (result i32)
    (call $read (i32.load (i32.const 16)) (i32.const 32) (i32.const 1) (i32.const 48)))
  (func (export "count") (result i32) (i32.load (i32.const 48)))
  (func (export "guard") (result i64) (i64.load (i32.const 264))))`;

const STAT: EntryStat = { type: "file", size: 8, ino: 1n, nlink: 1, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n };

/** A far directory whose one file answers reads with `read`, and whose other calls answer at once. */
function farDirectory(read: (into: Uint8Array) => Promise<number>): AsyncDirectory {
  const file: AsyncFileHandle = {
    read: (into) => read(into),
    write: async () => 0,
    stat: async () => STAT,
    setSize: async () => {},
    setTimes: async () => {},
    sync: async () => {},
    close: async () => {},
  };
  const none = async (): Promise<never> => {
    throw new FsError("ENOENT", "none");
  };
  return {
    asynchronous: true,
    readOnly: true,
    stat: async () => STAT,
    list: async () => [],
    mkdir: none,
    rmdir: none,
    unlink: none,
    rename: none,
    readlink: none,
    setTimes: none,
    openFile: async () => file,
  };
}

/** Run `entry` to its end, resuming through every await (the far end answers by itself). */
async function call(guest: Instance, entry: string): Promise<RunResult> {
  let r = await guest.run(entry);
  while (r.status === "paused") r = await guest.resume();
  return r;
}

describe.each(["in-process", "isolated"] as const)("a hostile far directory, %s", (sandbox) => {
  async function reader(dir: AsyncDirectory, awaitDeadlineMs?: number): Promise<Instance> {
    const module = await engine.compile(wat(READER));
    const guest = await engine.instantiate(module, {
      sandbox,
      trust: "authenticated",
      awaitDeadlineMs,
      wasi: { dirs: { "/far": dir } },
    });
    expect(await call(guest, "open")).toMatchObject({ status: "done", value: ERRNO.SUCCESS });
    return guest;
  }

  it("claims to have read far more than asked: the guest gets at most its buffer, nothing past it is written", async () => {
    const guest = await reader(
      farDirectory(async (into) => {
        into.fill(0x41);
        return 1_000_000;
      }),
    );
    expect(await call(guest, "read")).toMatchObject({ status: "done", value: ERRNO.SUCCESS });
    const count = await call(guest, "count");
    expect(count.status === "done" && (count.value as number) <= 8).toBe(true);
    expect(await call(guest, "guard")).toMatchObject({ status: "done", value: -0x5454545454545455n });
    guest.dispose();
  });

  it("rejects with something that is not an Error: EIO, and the guest goes on", async () => {
    let calls = 0;
    const guest = await reader(
      farDirectory(async (into) => {
        calls++;
        if (calls === 1) throw { not: "an error" };
        into.fill(0x42);
        return 4;
      }),
    );
    expect(await call(guest, "read")).toMatchObject({ status: "done", value: ERRNO.IO });
    expect(await call(guest, "read")).toMatchObject({ status: "done", value: ERRNO.SUCCESS });
    expect(await call(guest, "count")).toMatchObject({ status: "done", value: 4 });
    guest.dispose();
  });

  it("never answers: EIO at the deadline, every time, and the instance stays usable", async () => {
    // The deadline also bounds the open, which must succeed: long enough for an isolated child's
    // round trip to its parent on a busy machine (5 ms was not, at load ~20), short enough to wait out.
    const guest = await reader(
      farDirectory(() => new Promise<number>(() => {})),
      DEADLINE_MS,
    );
    for (let i = 0; i < 3; i++) expect(await call(guest, "read")).toMatchObject({ status: "done", value: ERRNO.IO });
    expect(await call(guest, "guard")).toMatchObject({ status: "done", value: -0x5454545454545455n });
    guest.dispose();
  });
});
