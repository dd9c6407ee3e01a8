// Attacks on the resource path: a file-backed provider asked to leave its root (traversal, absolute
// names, NUL bytes, symlinks out), to take huge writes or serve huge files; and a subverted sandbox
// child talking to the parent's host-call server directly (the parent checks everything again).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CapabilitySet, Engine, MemoryResources } from "../../runtime/index.js";
import { FileResources, type FileResourcesOptions, type ResourceUsage } from "../../runtime/resources/file-resources.js";
import { OffThreadFileResources } from "../../runtime/resources/off-thread-resources.js";
import type { Access } from "../../runtime/resources/capabilities.js";
import type { ResourceProvider } from "../../runtime/resources/provider.js";
import type { AsyncResourceProvider } from "../../runtime/resources/provider.js";
import { GuestTrap } from "../../runtime/traps.js";
import { HostCallServer } from "../../runtime/sandbox/isolated/host-call-server.js";
import {
  decodeAnswer,
  encodeRequest,
  frame,
  HostCallViolation,
  HOST_CALL_MAX_REQUEST_BYTES,
} from "../../runtime/sandbox/isolated/host-calls.js";
import { CLOSE, OPEN, READ, WRITE } from "../../runtime/host/ferry-resources/calls.js";
import { HOST_CALL_MAX_IO_BYTES, opOf } from "../../runtime/host/index.js";
import { frameReader } from "../../runtime/sandbox/isolated/process-transport.js";
import { IsolatedPool } from "../../runtime/sandbox/isolated/pool.js";
import { hostCallViolation, injectHostCallFault } from "../../runtime/sandbox/isolated/probe.js";
import { MAX_OPEN_RESOURCES } from "../../runtime/host/ferry-resources/session.js";
import { isolatedPlacement } from "../helpers/isolated.js";
import { wat } from "../helpers/wat.js";
import { refusal } from "../helpers/errors.js";

let base: string;
let root: string;
let outside: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "ferry-resources-"));
  root = join(base, "root");
  outside = join(base, "outside");
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, "secret"), "pw");
  writeFileSync(join(root, "ok.txt"), "fine");
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The trap a call ends with ("no trap" if it does not; "threw <code>" for anything but a trap). */
async function trapOf(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    if (e instanceof GuestTrap) return e.trap;
    return `threw ${(e as { code?: string }).code ?? String(e)}`;
  }
  return "no trap";
}

/** A file provider as these tests drive it: both kinds answer through promises. */
interface Handle {
  read(into: Uint8Array): Promise<number> | number;
  write(bytes: Uint8Array): Promise<number> | number;
  close(): Promise<void> | void;
  discard?(): Promise<void> | void;
}
interface Files {
  open(name: string, access: readonly Access[]): Promise<Handle | undefined> | Handle | undefined;
  usage(): Promise<ResourceUsage> | ResourceUsage;
}

/** FileResources on the caller's thread (the embedder's in-process choice), or served by the resource worker (the node's). */
const PROVIDERS: Array<[string, (root: string, options?: FileResourcesOptions) => Files]> = [
  ["FileResources", (r, o) => new FileResources(r, o)],
  ["OffThreadFileResources", (r, o) => new OffThreadFileResources(r, o)],
];

async function readAll(files: Files, name: string): Promise<string | undefined> {
  const h = await files.open(name, ["read"]);
  if (!h) return undefined;
  const buf = new Uint8Array(1 << 16);
  const n = await h.read(buf);
  await h.close();
  return dec.decode(buf.subarray(0, n));
}

async function writeAll(files: Files, name: string, text: string | Uint8Array): Promise<void> {
  const h = (await files.open(name, ["write"]))!;
  try {
    await h.write(typeof text === "string" ? enc.encode(text) : text);
    await h.close();
  } catch (e) {
    await h.discard!(); // as when the guest traps: its instance drops the handle
    throw e;
  }
}

describe.each(PROVIDERS)("%s", (kind, provider) => {
  // Each provider kind works in roots of its own.
  const at = (name: string): string => join(base, `${kind}-${name}`);
  const files = (r: string, o?: FileResourcesOptions) => provider(r, o);

  it("reads and writes files under its root, creating directories, replacing on close", async () => {
    const root = at("rw");
    mkdirSync(root);
    writeFileSync(join(root, "ok.txt"), "fine");
    const f = files(root);
    expect(await readAll(f, "ok.txt")).toBe("fine");
    expect(await readAll(f, "missing.txt")).toBeUndefined();
    const h = (await f.open("reports/2024/daily", ["write"]))!;
    await h.write(enc.encode("a"));
    await h.write(enc.encode("b"));
    // Nothing is visible until close; then all of it at once.
    expect(existsSync(join(root, "reports", "2024", "daily"))).toBe(false);
    await h.close();
    expect(readFileSync(join(root, "reports", "2024", "daily"), "utf8")).toBe("ab");
    await writeAll(f, "reports/2024/daily", "c");
    expect(await readAll(f, "reports/2024/daily")).toBe("c");
    // Read-write appends to what was there, like MemoryResources.
    const rw = (await f.open("reports/2024/daily", ["read", "write"]))!;
    await rw.write(enc.encode("d"));
    await rw.close();
    expect(await readAll(f, "reports/2024/daily")).toBe("cd");
    expect(readdirSync(join(root, "reports", "2024"))).toEqual(["daily"]); // no temp files left
  });

  it("a write never closed is never committed", async () => {
    const f = files(root);
    await writeAll(f, `draft-${kind}`, "old");
    const h = (await f.open(`draft-${kind}`, ["write"]))!;
    await h.write(enc.encode("half-written"));
    // The guest trapped: the handle is dropped without close.
    expect(await readAll(f, `draft-${kind}`)).toBe("old");
    await h.discard!();
  });

  it.each([
    ["../outside/secret"],
    ["a/../../outside/secret"],
    ["/etc/hostname"],
    ["./ok.txt"],
    ["a//b"],
    ["ok.txt\0.png"],
    ["a\\..\\b"],
    [""],
    ["x".repeat(2000)],
    [".ferry-tmp-0123"],
    ["sp ace"],
  ])("refuses the name %j (host_error) for reading and writing", async (name) => {
    const f = files(root);
    expect(await trapOf(() => f.open(name, ["read"]))).toBe("host_error");
    expect(await trapOf(() => f.open(name, ["write"]))).toBe("host_error");
  });

  it("follows no symlink out of the root, for reading or writing", async () => {
    const r = at("links");
    mkdirSync(r);
    writeFileSync(join(r, "ok.txt"), "fine");
    symlinkSync(join(outside, "secret"), join(r, "link-file"));
    symlinkSync(outside, join(r, "link-dir"));
    symlinkSync(join(r, "ok.txt"), join(r, "inner-link"));
    const f = files(r);
    expect(await trapOf(() => f.open("link-file", ["read"]))).toBe("host_error");
    expect(await trapOf(() => f.open("link-dir/secret", ["read"]))).toBe("host_error");
    expect(await trapOf(() => f.open("link-dir/new", ["write"]))).toBe("host_error");
    expect(await trapOf(() => f.open("link-file", ["write"]))).toBe("host_error");
    // A link that stays inside is read through; a write never replaces a link.
    expect(await readAll(f, "inner-link")).toBe("fine");
    expect(await trapOf(() => f.open("inner-link", ["write"]))).toBe("host_error");
    expect(readFileSync(join(outside, "secret"), "utf8")).toBe("pw");
    expect(readdirSync(outside)).toEqual(["secret"]);
  });

  it("catches a directory swapped for an escaping symlink between open and close", async () => {
    const f = files(root);
    const dir = `swap-${kind}`;
    mkdirSync(join(root, dir));
    const h = (await f.open(`${dir}/file`, ["write"]))!;
    await h.write(enc.encode("x"));
    rmSync(join(root, dir), { recursive: true });
    symlinkSync(outside, join(root, dir));
    expect(await trapOf(() => h.close())).toBe("host_error");
    expect(readdirSync(outside)).toEqual(["secret"]);
  });

  it("bounds sizes: a huge write traps and commits nothing; a file over the limit is not read", async () => {
    const r = at("sizes");
    const f = files(r, { maxFileBytes: 1024 });
    const h = (await f.open("big", ["write"]))!;
    await h.write(new Uint8Array(1000));
    expect(await trapOf(() => h.write(new Uint8Array(100)))).toBe("host_error");
    expect(existsSync(join(r, "big"))).toBe(false);
    writeFileSync(join(r, "huge"), new Uint8Array(2048));
    expect(await trapOf(() => f.open("huge", ["read"]))).toBe("host_error");
    expect(await trapOf(() => f.open("huge", ["read", "write"]))).toBe("host_error");
    await h.discard!();
  });

  it("holds a root to its disk quota: bytes and entries, measured at open and again at commit", async () => {
    const quotaRoot = at("quota");
    const f = files(quotaRoot, { maxTotalBytes: 100, maxEntries: 4 });
    expect(await f.usage()).toEqual({ bytes: 0, entries: 0 });
    await writeAll(f, "a", new Uint8Array(60));
    // Growing past the quota traps on the write that crosses it, and commits nothing.
    const h = (await f.open("b", ["write"]))!;
    await h.write(new Uint8Array(30));
    expect(await trapOf(() => h.write(new Uint8Array(20)))).toBe("resource_quota");
    expect(existsSync(join(quotaRoot, "b"))).toBe(false);
    // Its 30 bytes are in flight (on disk, in the root) until the handle is dropped.
    expect(await f.usage()).toEqual({ bytes: 90, entries: 1 });
    await h.discard!();
    expect(await f.usage()).toEqual({ bytes: 60, entries: 1 });
    // Replacing a file counts its new size, not both: "a" may become 100 bytes, not 101.
    await writeAll(f, "a", new Uint8Array(100));
    expect(await trapOf(() => writeAll(f, "a", new Uint8Array(101)))).toBe("resource_quota");
    expect(await f.usage()).toEqual({ bytes: 100, entries: 1 });
    // Two writers that each fit alone: the bytes the first has in flight count against the second
    // at once (not only when they close), so the write that would cross the quota traps.
    await writeAll(f, "a", new Uint8Array(10));
    const first = (await f.open("c", ["write"]))!;
    const second = (await f.open("c", ["write"]))!;
    await first.write(new Uint8Array(50));
    expect(await trapOf(() => second.write(new Uint8Array(50)))).toBe("resource_quota");
    await second.write(new Uint8Array(40));
    expect(await f.usage()).toEqual({ bytes: 100, entries: 1 });
    await first.close();
    await second.close(); // the last to close wins, as a rename does
    expect(await f.usage()).toEqual({ bytes: 50, entries: 2 });
    // Entries: every new directory on the way counts, and so does the file.
    expect(await trapOf(() => f.open("x/y/z", ["write"]))).toBe("resource_quota");
    await writeAll(f, "x/y", "1");
    expect(await trapOf(() => f.open("e", ["write"]))).toBe("resource_quota");
    // Over a quota that was lowered, shrinking a file is still allowed; growing it is not.
    const lowered = files(quotaRoot, { maxTotalBytes: 12, maxEntries: 4 });
    await writeAll(lowered, "c", new Uint8Array(5));
    expect(await trapOf(() => writeAll(lowered, "c", new Uint8Array(6)))).toBe("resource_quota");
    expect(readFileSync(join(quotaRoot, "c")).byteLength).toBe(5);
    expect(await refusal(() => files(quotaRoot, { maxTotalBytes: -1 }))).toMatchObject({
      code: "invalid_option",
      message: expect.stringContaining("maxTotalBytes"),
    });
    expect(await refusal(() => files(quotaRoot, { maxEntries: 1.5 }))).toMatchObject({
      code: "invalid_option",
      message: expect.stringContaining("maxEntries"),
    });
  });

  it("keeps bytes in flight on disk in the root and counts them at every write, across handles and providers", async () => {
    const flightRoot = at("in-flight");
    // Two providers on one root, as two jobs of one client get: they share what is in flight.
    const one = files(flightRoot, { maxTotalBytes: 4096 });
    const two = files(flightRoot, { maxTotalBytes: 4096 });
    const handles: Handle[] = [];
    for (const k of [0, 1, 2]) handles.push((await one.open(`a${k}`, ["write"]))!);
    for (const h of handles) expect(await h.write(new Uint8Array(1024))).toBe(1024);
    const last = (await two.open("b", ["write"]))!;
    await last.write(new Uint8Array(1024));
    expect(await trapOf(() => last.write(new Uint8Array(1)))).toBe("resource_quota");
    expect(await trapOf(() => handles[0]!.write(new Uint8Array(1)))).toBe("resource_quota");
    // The 4 KiB are files in the root (not host memory), counted as bytes but not as entries.
    expect(await one.usage()).toEqual({ bytes: 4096, entries: 0 });
    expect(readdirSync(flightRoot).filter((n) => n.startsWith(".ferry-tmp-"))).toHaveLength(4);
    for (const h of handles) await h.discard!();
    await last.close();
    expect(readdirSync(flightRoot)).toEqual(["b"]);
    expect(await two.usage()).toEqual({ bytes: 1024, entries: 1 });
  });

  it("a reader keeps the file as it was at open, and what it pins counts once the file is replaced", async () => {
    const pinRoot = at("pinned");
    const f = files(pinRoot, { maxTotalBytes: 100 });
    await writeAll(f, "r", new Uint8Array(40).fill(1));
    const reader = (await f.open("r", ["read"]))!;
    expect((await f.usage()).bytes).toBe(40); // a link to the same bytes, not a copy
    await writeAll(f, "r", new Uint8Array(30).fill(2));
    // The old 40 bytes are still on disk for the reader: replacing "r" again with 70 would need 110.
    expect((await f.usage()).bytes).toBe(70);
    expect(await trapOf(() => writeAll(f, "r", new Uint8Array(70)))).toBe("resource_quota");
    const buf = new Uint8Array(64);
    expect(await reader.read(buf)).toBe(40);
    expect(buf.subarray(0, 40).every((b) => b === 1)).toBe(true);
    await reader.close();
    expect((await f.usage()).bytes).toBe(30);
    await writeAll(f, "r", new Uint8Array(70));
    expect(readdirSync(pinRoot)).toEqual(["r"]);
  });

  it("refuses directories, FIFOs and access it was not opened for", async () => {
    const r = at("kinds");
    mkdirSync(join(r, "adir"), { recursive: true });
    writeFileSync(join(r, "ok.txt"), "fine");
    execFileSync("mkfifo", [join(r, "fifo")]);
    const f = files(r);
    expect(await trapOf(() => f.open("adir", ["read"]))).toBe("host_error");
    expect(await trapOf(() => f.open("adir", ["write"]))).toBe("host_error");
    expect(await trapOf(() => f.open("fifo", ["read"]))).toBe("host_error");
    const rd = (await f.open("ok.txt", ["read"]))!;
    expect(await trapOf(() => rd.write(enc.encode("x")))).toBe("host_error");
    const w = (await f.open("w-only", ["write"]))!;
    expect(await trapOf(() => w.read(new Uint8Array(4)))).toBe("host_error");
    await rd.close();
    await w.discard!();
  });

  it("has nothing to read before its root exists, and creates the root (0700) on the first write", async () => {
    const fresh = join(at("fresh"), "client-1");
    const f = files(fresh);
    expect(await readAll(f, "x")).toBeUndefined();
    expect(existsSync(fresh)).toBe(false);
    await writeAll(f, "x", "1");
    expect(readFileSync(join(fresh, "x"), "utf8")).toBe("1");
    expect(statSync(fresh).mode & 0o777).toBe(0o700);
  });
});

/**
 * Where a guest meets a file root: in-process with FileResources (the embedder's choice), isolated
 * with FileResources on the host's thread, isolated with the resource worker (what a node does).
 */
const PLACEMENTS: Array<
  [
    string,
    "in-process" | "isolated",
    (root: string, options?: FileResourcesOptions) => (Files & ResourceProvider) | (Files & AsyncResourceProvider),
  ]
> = [
  ["in-process", "in-process", (r, o) => new FileResources(r, o)],
  ["isolated", "isolated", (r, o) => new FileResources(r, o)],
  ["isolated-off-thread", "isolated", (r, o) => new OffThreadFileResources(r, o)],
];

// A guest that writes 1 KiB files named f0, f1, … until something stops it.
const FILE_FLOOD = wat(`(module
  (import "ferry" "resource_open" (func $open (param i32 i32 i32) (result i32)))
  (import "ferry" "resource_write" (func $write (param i32 i32 i32) (result i32)))
  (import "ferry" "resource_close" (func $close (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "f")
  (func (export "main") (result i32)
    (local $i i32) (local $h i32)
    (loop $next
      ;; name = "f" + two letters counting in base 26: faa, fba, …, fza, fab, …
      (i32.store8 (i32.const 1) (i32.add (i32.const 97) (i32.rem_u (local.get $i) (i32.const 26))))
      (i32.store8 (i32.const 2) (i32.add (i32.const 97) (i32.div_u (local.get $i) (i32.const 26))))
      (local.set $h (call $open (i32.const 0) (i32.const 3) (i32.const 2)))
      (drop (call $write (local.get $h) (i32.const 1024) (i32.const 1024)))
      (call $close (local.get $h))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))
    (local.get $i)))`);

describe("a guest flooding its disk quota, in-process and isolated", () => {
  it("traps resource_quota and leaves the root within the quota", async () => {
    const engine = new Engine({ isolated: { size: 0 } });
    try {
      const module = await engine.compile(FILE_FLOOD);
      for (const [where, sandbox, provider] of PLACEMENTS) {
        const quotaRoot = join(base, `flood-${where}`);
        const resources = provider(quotaRoot, { maxTotalBytes: 10 * 1024, maxEntries: 100 });
        const i = await engine.instantiate(module, { trust: "authenticated", sandbox, capabilities: ["*:rw"], resources });
        const r = await i.run("main");
        expect(r, JSON.stringify(r)).toMatchObject({ status: "trapped", code: "resource_quota" });
        i.dispose();
        expect(await resources.usage()).toEqual({ bytes: 10 * 1024, entries: 10 });
        expect(readdirSync(quotaRoot).sort()).toEqual(Array.from({ length: 10 }, (_, k) => `f${String.fromCharCode(97 + k)}a`));
      }
    } finally {
      await engine.close();
    }
  });
});

// A guest that opens 64 files for writing and writes 1 MiB to each without closing any.
const OPEN_WRITERS = wat(`(module
  (import "ferry" "resource_open" (func $open (param i32 i32 i32) (result i32)))
  (import "ferry" "resource_write" (func $write (param i32 i32 i32) (result i32)))
  (memory (export "memory") 17)
  (data (i32.const 0) "g")
  (func (export "main") (result i32)
    (local $i i32) (local $h i32)
    (loop $next
      (i32.store8 (i32.const 1) (i32.add (i32.const 97) (i32.rem_u (local.get $i) (i32.const 26))))
      (i32.store8 (i32.const 2) (i32.add (i32.const 97) (i32.div_u (local.get $i) (i32.const 26))))
      (local.set $h (call $open (i32.const 0) (i32.const 3) (i32.const 2)))
      (drop (call $write (local.get $h) (i32.const 65536) (i32.const 1048576)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 64))))
    (local.get $i)))`);

describe("a guest holding many write handles open, in-process and isolated", () => {
  it("traps resource_quota on the write that takes what is in flight past the quota, and leaves nothing behind", async () => {
    const engine = new Engine({ isolated: { size: 0 } });
    try {
      const module = await engine.compile(OPEN_WRITERS);
      for (const [where, sandbox, provider] of PLACEMENTS) {
        const quotaRoot = join(base, `writers-${where}`);
        const resources = provider(quotaRoot, { maxTotalBytes: 4 * 1024 * 1024 });
        const i = await engine.instantiate(module, { trust: "authenticated", sandbox, capabilities: ["*:rw"], resources });
        const r = await i.run("main");
        expect(r, JSON.stringify(r)).toMatchObject({ status: "trapped", code: "resource_quota" });
        // Four handles hold 1 MiB each, on disk in the root: nothing is committed yet.
        expect(await resources.usage()).toEqual({ bytes: 4 * 1024 * 1024, entries: 0 });
        i.dispose();
        // The instance ended with its handles open: they are dropped and their files given back
        // (the resource worker takes calls in order: the discards before this walk).
        expect(await resources.usage()).toEqual({ bytes: 0, entries: 0 });
        expect(readdirSync(quotaRoot)).toEqual([]);
      }
    } finally {
      await engine.close();
    }
  });
});

// A guest with "*:rw" (every name its capabilities allow) still cannot leave the root: in-process and isolated alike.
const ESCAPE_GUEST = wat(`(module
  (import "ferry" "resource_open" (func $open (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "link-dir/secret")
  (data (i32.const 64) "/etc/hostname")
  (func (export "via_symlink") (result i32) (call $open (i32.const 0) (i32.const 15) (i32.const 1)))
  (func (export "absolute") (result i32) (call $open (i32.const 64) (i32.const 13) (i32.const 1))))`);

describe("a guest against FileResources, in-process and isolated", () => {
  it("traps host_error for symlink escapes and absolute names either way", async () => {
    if (!existsSync(join(root, "link-dir"))) symlinkSync(outside, join(root, "link-dir"));
    const engine = new Engine({ isolated: { size: 0 } });
    try {
      const module = await engine.compile(ESCAPE_GUEST);
      for (const [, sandbox, provider] of PLACEMENTS) {
        const i = await engine.instantiate(module, { trust: "authenticated", sandbox, capabilities: ["*:rw"], resources: provider(root) });
        expect(await i.run("via_symlink")).toMatchObject({ status: "trapped", code: "host_error" });
        i.dispose();
        const j = await engine.instantiate(module, { trust: "authenticated", sandbox, capabilities: ["*:rw"], resources: provider(root) });
        expect(await j.run("absolute")).toMatchObject({ status: "trapped", code: "host_error" });
        j.dispose();
      }
    } finally {
      await engine.close();
    }
  });
});

describe("the parent's host-call server, as a subverted child sees it", () => {
  const ask = async (server: HostCallServer, body: Uint8Array) => decodeAnswer(await server.serve(body));

  it("checks capabilities itself: a child that skips its own check gets capability_denied, the provider is never asked", async () => {
    let asked = 0;
    const server = new HostCallServer({
      directories: [],
      capabilities: new CapabilitySet(["public/*:r"]),
      provider: {
        open: () => {
          asked++;
          return undefined;
        },
      },
    });
    for (const [name, flags] of [
      ["secret", 1],
      ["public/x", 2],
      ["public/../secret", 1],
    ] as const) {
      expect(await ask(server, encodeRequest(OPEN, { flags, name: enc.encode(name) }))).toMatchObject({
        ok: false,
        trap: "capability_denied",
      });
    }
    expect(asked).toBe(0);
    expect(await ask(server, encodeRequest(OPEN, { flags: 1, name: new Uint8Array([0xff, 0xfe]) }))).toMatchObject({
      ok: false,
      trap: "host_error",
    });
  });

  it("answers host_error for handles it never gave out, and bounds open handles", async () => {
    const server = new HostCallServer({
      directories: [],
      capabilities: new CapabilitySet(["*:r"]),
      provider: new MemoryResources({ a: "1" }),
    });
    expect(await ask(server, encodeRequest(READ, { handle: 7, length: 4 }))).toMatchObject({ ok: false, trap: "host_error" });
    expect(await ask(server, encodeRequest(WRITE, { handle: 7, bytes: new Uint8Array(1) }))).toMatchObject({
      ok: false,
      trap: "host_error",
    });
    expect(await ask(server, encodeRequest(CLOSE, { handle: 0 }))).toMatchObject({ ok: false, trap: "host_error" });
    for (let k = 0; k < MAX_OPEN_RESOURCES; k++)
      expect(await ask(server, encodeRequest(OPEN, { flags: 1, name: enc.encode("a") }))).toMatchObject({ ok: true });
    expect(await ask(server, encodeRequest(OPEN, { flags: 1, name: enc.encode("a") }))).toMatchObject({
      ok: false,
      trap: "host_error",
    });
    expect(server.openHandles).toBe(MAX_OPEN_RESOURCES);
  });

  it("treats malformed requests as protocol violations", async () => {
    const server = new HostCallServer({ directories: [], capabilities: new CapabilitySet(["*:rw"]), provider: new MemoryResources() });
    const raw = (op: number, a: number, b: number, payload = new Uint8Array(0)) => {
      const body = new Uint8Array(9 + payload.byteLength);
      const v = new DataView(body.buffer);
      v.setUint8(0, op);
      v.setUint32(1, a, true);
      v.setUint32(5, b, true);
      body.set(payload, 9);
      return body;
    };
    const [OP_OPEN, OP_READ, OP_CLOSE] = [opOf(OPEN), opOf(READ), opOf(CLOSE)];
    const bad = [
      new Uint8Array(0),
      new Uint8Array(8),
      raw(0, 0, 0),
      raw(99, 1, 0),
      raw(OP_OPEN, 0, 0, enc.encode("a")), // no access flags
      raw(OP_OPEN, 7, 0, enc.encode("a")), // unknown flags
      raw(OP_OPEN, 1, 0, new Uint8Array(257)), // name too long
      raw(OP_READ, 1, HOST_CALL_MAX_IO_BYTES + 1), // reads more than one call may
      raw(OP_READ, 1, 4, new Uint8Array(1)),
      raw(OP_CLOSE, 1, 0, new Uint8Array(1)),
      new Uint8Array(HOST_CALL_MAX_REQUEST_BYTES + 1),
    ];
    for (const body of bad) await expect(server.serve(body)).rejects.toBeInstanceOf(HostCallViolation);
  });

  it("reassembles frames split anywhere, and refuses an oversized or empty frame before buffering it", () => {
    const got: unknown[] = [];
    const feed = frameReader(64, (c) => got.push("body" in c ? [...c.body] : c.violation));
    const two = new Uint8Array([...frame(new Uint8Array([1, 2, 3])), ...frame(new Uint8Array([4]))]);
    for (const byte of two) feed(new Uint8Array([byte]));
    expect(got).toEqual([[1, 2, 3], [4]]);
    feed(frame(new Uint8Array(0), 65));
    expect(got[2]).toMatch(/65 bytes/);
    feed(frame(new Uint8Array([9])));
    expect(got).toHaveLength(3); // nothing more after a violation
    const zero: unknown[] = [];
    frameReader(64, (c) => zero.push(c))(frame(new Uint8Array(0)));
    expect(zero).toEqual([{ violation: expect.stringMatching(/0 bytes/) }]);
  });

  it.each(["process", "worker"] as const)("an unsolicited host call (no request outstanding) kills the %s child", async (transport) => {
    const pool = new IsolatedPool({ size: 0, transport });
    const engine = new Engine();
    try {
      const module = await engine.compile(ESCAPE_GUEST);
      const resources = new MemoryResources({ x: "1" });
      const i = await pool.instantiate(
        module,
        engine.config,
        isolatedPlacement({ trust: "authenticated", capabilities: ["*:r"], resources }),
      );
      await injectHostCallFault(i, "unsolicited");
      const deadline = Date.now() + 10_000;
      while (i.state !== "trapped" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(i.state).toBe("trapped");
      expect(hostCallViolation(i)).toMatch(/no request is outstanding/);
      await expect(i.run("absolute")).rejects.toMatchObject({ code: "instance_finished" });
    } finally {
      await pool.close();
      await engine.close();
    }
  });
});
