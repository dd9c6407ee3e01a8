// Content-addressed files for module and snapshot bytes: <root>/<sha256[0:2]>/<sha256>. A blob is
// durable before put() returns, is never half-visible, and is checked against its name on every read.

import { createHash, timingSafeEqual } from "node:crypto";
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  utimesSync,
  type Stats,
} from "node:fs";
import { open, rename, rm, stat as statAsync, utimes } from "node:fs/promises";
import { dirname, join } from "node:path";
import { TEMP_FILE_PATTERN, writeFileAtomic } from "../../runtime/light.js";
import { ServerError } from "../errors.js";
import { processAlive } from "../process-alive.js";

const HASH = /^[0-9a-f]{64}$/;
/** Subdirectory of temp files written off the event loop, waiting for `adopt`. */
const INCOMING = "incoming";
/** A temp file whose writer is still alive is left alone unless it is older than this (its pid was reused). */
const STALE_TEMP_MS = 60 * 60 * 1000;
/** Buffer a ranged read checks a whole blob through, bytes: what checking costs in memory. */
const VERIFY_CHUNK_BYTES = 1024 * 1024;
/** Blobs remembered as checked (by size and mtime) for ranged reads. */
const VERIFIED_KEPT = 4096;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function isBlobHash(text: string): boolean {
  return HASH.test(text);
}

export interface PutResult {
  hash: string;
  size: number;
  /** false: the blob was already there (puts are idempotent). */
  created: boolean;
}

export class BlobStore {
  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true });
  }

  pathOf(hash: string): string {
    // Hashes reach here from URLs: the pattern is also what keeps "../" out of the path.
    if (!HASH.test(hash)) throw new ServerError("bad_request", `"${hash}" is not a sha256 hex digest`);
    return join(this.root, hash.slice(0, 2), hash);
  }

  has(hash: string): boolean {
    return existsSync(this.pathOf(hash));
  }

  /**
   * Writes the bytes under their sha256 (temp file, fsync, rename, fsync directory) unless already there.
   */
  put(bytes: Uint8Array): PutResult {
    const hash = sha256Hex(bytes);
    const path = this.pathOf(hash);
    const size = bytes.byteLength;
    const existing = statOrUndefined(path);
    if (existing && existing.size === size) {
      // Fresh mtime: the garbage collector's grace period now protects it until its row is written.
      const now = new Date();
      utimesSync(path, now, now);
      return { hash, size, created: false };
    }
    this.ensureShard(hash);
    writeFileAtomic(path, bytes);
    return { hash, size, created: true };
  }

  /**
   * Where writers off the event loop (runtime's SnapshotFileWriter) put their complete temp files
   * before `adopt` renames them in: on the store's file system, swept at open.
   */
  get incoming(): string {
    const dir = join(this.root, INCOMING);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /**
   * A complete, fsynced temp file in `incoming` whose sha256 its writer computed as `hash`: renamed
   * into place (then the shard directory fsynced) unless the blob is already there, in which case
   * the temp file goes. Same result as put() of its bytes, without reading them on this thread; the
   * rename, the directory's fsync and the removal run off the event loop (each costs a journal
   * commit, milliseconds on a busy disk), several adopts at once sharing the file system's commits.
   */
  async adopt(temp: string, hash: string, size: number): Promise<PutResult> {
    const path = this.pathOf(hash);
    if (dirname(temp) !== join(this.root, INCOMING))
      throw new ServerError("bad_request", `${temp} is not in the store's incoming directory`);
    const existing = await statAsync(path).catch(() => undefined);
    if (existing && existing.size === size) {
      await rm(temp, { force: true });
      const now = new Date();
      await utimes(path, now, now);
      return { hash, size, created: false };
    }
    this.ensureShard(hash);
    await rename(temp, path);
    const dir = await open(dirname(path), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    return { hash, size, created: true };
  }

  /** The bytes, verified against the hash. Only for hashes some row references: a missing blob is corruption. */
  read(hash: string): Uint8Array {
    const path = this.pathOf(hash);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new ServerError("store_corrupt", `blob ${hash} is missing`, { cause: e });
      throw e;
    }
    const actual = createHash("sha256").update(bytes).digest();
    if (!timingSafeEqual(actual, Buffer.from(hash, "hex"))) {
      throw new ServerError("store_corrupt", `blob ${hash} does not match its hash (${actual.toString("hex")})`);
    }
    return bytes;
  }

  /** The blob's size in bytes (store_corrupt if it is missing). */
  size(hash: string): number {
    const stat = statOrUndefined(this.pathOf(hash));
    if (!stat) throw new ServerError("store_corrupt", `blob ${hash} is missing`);
    return stat.size;
  }

  /**
   * At most `length` bytes from `offset`, and the blob's size, without holding the whole blob in
   * memory: the blob is checked against its hash on the first ranged read (streamed through a
   * 1 MiB buffer) and remembered as checked while its size and mtime stay the same.
   */
  readRange(hash: string, offset: number, length: number): { bytes: Uint8Array; size: number } {
    const path = this.pathOf(hash);
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new ServerError("store_corrupt", `blob ${hash} is missing`, { cause: e });
      throw e;
    }
    try {
      const stat = fstatSync(fd);
      const stamp = `${stat.size}:${stat.mtimeMs}`;
      if (this.verified.get(hash) !== stamp) {
        const digest = createHash("sha256");
        const buf = Buffer.allocUnsafe(Math.min(VERIFY_CHUNK_BYTES, Math.max(stat.size, 1)));
        for (let at = 0; ; ) {
          const n = readSync(fd, buf, 0, buf.byteLength, at);
          if (n === 0) break;
          digest.update(buf.subarray(0, n));
          at += n;
        }
        const actual = digest.digest();
        if (!timingSafeEqual(actual, Buffer.from(hash, "hex"))) {
          throw new ServerError("store_corrupt", `blob ${hash} does not match its hash (${actual.toString("hex")})`);
        }
        this.verified.delete(hash);
        if (this.verified.size >= VERIFIED_KEPT) this.verified.delete(this.verified.keys().next().value!);
        this.verified.set(hash, stamp);
      }
      const start = Math.min(Math.max(0, offset), stat.size);
      const bytes = new Uint8Array(Math.min(Math.max(0, length), stat.size - start));
      for (let got = 0; got < bytes.byteLength; ) {
        const n = readSync(fd, bytes, got, bytes.byteLength - got, start + got);
        if (n === 0) throw new ServerError("store_corrupt", `blob ${hash} shrank while it was read`);
        got += n;
      }
      return { bytes, size: stat.size };
    } finally {
      closeSync(fd);
    }
  }

  /** Blobs checked whole by readRange: hash → "size:mtime" when checked. */
  private readonly verified = new Map<string, string>();

  /** Idempotent. */
  delete(hash: string): void {
    this.verified.delete(hash);
    rmSync(this.pathOf(hash), { force: true });
  }

  /** Every stored hash with its modification time (Unix ms). */
  list(): { hash: string; mtimeMs: number }[] {
    const out: { hash: string; mtimeMs: number }[] = [];
    for (const shard of this.shards()) {
      for (const name of readdirSync(join(this.root, shard))) {
        if (HASH.test(name) && name.startsWith(shard)) {
          const stat = statOrUndefined(join(this.root, shard, name));
          if (stat) out.push({ hash: name, mtimeMs: stat.mtimeMs });
        }
      }
    }
    return out;
  }

  /**
   * Removes temp files left by writers that died mid-write (crash between create and rename). Only
   * at open: a temp file of this process is then a dead one's whose pid came round again.
   */
  sweepTemp(nowMs = Date.now()): number {
    let removed = 0;
    const incoming = existsSync(join(this.root, INCOMING)) ? [INCOMING] : [];
    for (const shard of [...this.shards(), ...incoming]) {
      for (const name of readdirSync(join(this.root, shard))) {
        const m = TEMP_FILE_PATTERN.exec(name);
        if (!m) continue;
        const pid = Number(m[2]);
        const path = join(this.root, shard, name);
        const age = nowMs - (statOrUndefined(path)?.mtimeMs ?? 0);
        // Our own pid is safe too: the sweep runs at open, before anything of ours writes.
        if (pid === process.pid || !processAlive(pid) || age > STALE_TEMP_MS) {
          rmSync(path, { force: true });
          removed++;
        }
      }
    }
    return removed;
  }

  private shards(): string[] {
    return readdirSync(this.root).filter((d) => /^[0-9a-f]{2}$/.test(d));
  }

  private ensureShard(hash: string): void {
    const dir = join(this.root, hash.slice(0, 2));
    if (existsSync(dir)) return;
    mkdirSync(dir, { recursive: true });
    // The new directory's entry must be durable too, or a crash could lose the blob with its directory.
    fsyncDirectory(this.root);
  }
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
