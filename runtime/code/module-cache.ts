// The persistent module cache: instrumented code segments on disk, so the same module under the
// same pipeline and settings is instrumented once per machine, not once per process. The CLI keeps
// one per user, a node one in its data directory, an embedder one where `cacheDir` says.
//
// Safety (docs/sandboxes.md, "The module cache"): entries are written whole to a temp file and
// renamed into place (concurrent writers of one entry each rename a complete file, the last wins);
// every read is verified (cache-entry.ts: checksum, full key, the segment's fields, WebAssembly
// validation) and an entry that fails is deleted and compiled again, never run; total size is
// bounded, least recently used entries going first. Refusals are not stored (see compileCached).

import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, stat, unlink, utimes, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { FerryError } from "../errors.js";
import { DEFAULT_MODULE_CACHE_MAX_BYTES } from "../limits.js";
import { decodeEntry, encodeEntry } from "./cache-entry.js";
import { cacheKey } from "./cache-key.js";
import type { CompilePool } from "./compile-pool.js";
import type { CodeSegment, InstrumentOptions } from "./segment.js";

export interface ModuleCacheOptions {
  /** Most bytes the entries may take together; past it the least recently used go. Default 256 MiB. */
  maxBytes?: number | undefined;
}

export interface ModuleCacheStats {
  /** Compiles answered from disk (no worker, no Binaryen). */
  hits: number;
  /** Lookups that found no entry. */
  misses: number;
  /** Entries written. */
  stored: number;
  /** Entries found unsound (torn, damaged, another key's, invalid) and deleted instead of used. */
  rejected: number;
  /** Entries deleted to keep the cache within maxBytes. */
  evicted: number;
  /** Writes that failed (full disk, no permission): the compile still succeeds, only uncached. */
  writeFailures: number;
}

const ENTRY_SUFFIX = ".segment";
/** A temp file this old is a dead writer's: removed when the cache is trimmed. */
const STALE_TEMP_MS = 60 * 60 * 1000;

export class ModuleCache {
  readonly dir: string;
  readonly maxBytes: number;
  private readonly counters: ModuleCacheStats = { hits: 0, misses: 0, stored: 0, rejected: 0, evicted: 0, writeFailures: 0 };

  constructor(dir: string, options: ModuleCacheOptions = {}) {
    if (typeof dir !== "string" || dir === "")
      throw new FerryError("invalid_option", `\`cacheDir\` must be a directory path, got ${JSON.stringify(dir)}`);
    const maxBytes = options.maxBytes ?? DEFAULT_MODULE_CACHE_MAX_BYTES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new FerryError("invalid_option", `\`cacheMaxBytes\` must be a non-negative integer, got ${String(maxBytes)}`);
    }
    this.dir = resolve(dir);
    this.maxBytes = maxBytes;
  }

  get stats(): ModuleCacheStats {
    return { ...this.counters };
  }

  /** The entry for `codeHash` compiled with `options`, if a sound one is on disk. */
  async get(codeHash: string, options: InstrumentOptions): Promise<CodeSegment | undefined> {
    const key = cacheKey(codeHash, options);
    const path = this.pathOf(key);
    let data: Uint8Array;
    try {
      data = await readFile(path);
    } catch {
      this.counters.misses++;
      return undefined;
    }
    const segment = decodeEntry(data, key, codeHash, options);
    if (typeof segment === "string") {
      // Never trusted, and removed so the compile that follows writes a sound one in its place.
      this.counters.rejected++;
      await unlink(path).catch(() => undefined);
      return undefined;
    }
    this.counters.hits++;
    const now = new Date();
    await utimes(path, now, now).catch(() => undefined); // recency, for eviction
    return segment;
  }

  /** Store `segment` (compiled from `codeHash` with `options`). Never throws: a cache that cannot be written only costs time. */
  async put(codeHash: string, options: InstrumentOptions, segment: CodeSegment): Promise<void> {
    const key = cacheKey(codeHash, options);
    const data = encodeEntry(key, segment);
    if (data.byteLength > this.maxBytes) return;
    const path = this.pathOf(key);
    const temp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 }); // every time: the directory may have been cleared
      await writeFile(temp, data, { mode: 0o600, flag: "wx" });
      await rename(temp, path); // atomic: a reader sees the old entry, no entry, or this whole one
      this.counters.stored++;
    } catch {
      this.counters.writeFailures++;
      await unlink(temp).catch(() => undefined);
      return;
    }
    await this.trim();
  }

  /** Delete every entry (and stray temp files). */
  async clear(): Promise<{ entries: number; bytes: number }> {
    const { entries, temps } = await this.list();
    for (const f of [...entries, ...temps]) await unlink(f.path).catch(() => undefined);
    return { entries: entries.length, bytes: entries.reduce((n, e) => n + e.size, 0) };
  }

  /** How many entries the directory holds now, and their total size. */
  async usage(): Promise<{ entries: number; bytes: number }> {
    const { entries } = await this.list();
    return { entries: entries.length, bytes: entries.reduce((n, e) => n + e.size, 0) };
  }

  /** Evict least recently used entries until the total fits maxBytes; drop dead writers' temp files. */
  private async trim(): Promise<void> {
    const { entries, temps } = await this.list();
    const now = Date.now();
    for (const t of temps) if (now - t.mtimeMs > STALE_TEMP_MS) await unlink(t.path).catch(() => undefined);
    let total = entries.reduce((n, e) => n + e.size, 0);
    if (total <= this.maxBytes) return;
    entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const e of entries) {
      if (total <= this.maxBytes) break;
      // Another process may be trimming too: an entry already gone counts as gone.
      if (
        await unlink(e.path).then(
          () => true,
          () => false,
        )
      )
        this.counters.evicted++;
      total -= e.size;
    }
  }

  private async list(): Promise<{ entries: FileInfo[]; temps: FileInfo[] }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return { entries: [], temps: [] };
    }
    const entries: FileInfo[] = [];
    const temps: FileInfo[] = [];
    for (const name of names) {
      const kind = name.endsWith(ENTRY_SUFFIX) ? entries : name.endsWith(".tmp") && name.includes(ENTRY_SUFFIX) ? temps : undefined;
      if (!kind) continue; // not ours: left alone
      const path = join(this.dir, name);
      const s = await stat(path).catch(() => undefined);
      if (s?.isFile()) kind.push({ path, size: s.size, mtimeMs: s.mtimeMs });
    }
    return { entries, temps };
  }

  private pathOf(key: string): string {
    return join(this.dir, `${createHash("sha256").update(key).digest("hex")}${ENTRY_SUFFIX}`);
  }
}

interface FileInfo {
  path: string;
  size: number;
  mtimeMs: number;
}

const opened = new Map<string, ModuleCache>();

/**
 * The process's cache for `dir`: engines given the same directory share one object (and its stats).
 * The first opener's maxBytes holds.
 */
export function openModuleCache(dir: string, options: ModuleCacheOptions = {}): ModuleCache {
  const cache = new ModuleCache(dir, options);
  const existing = opened.get(cache.dir);
  if (existing) return existing;
  opened.set(cache.dir, cache);
  return cache;
}

/**
 * The code segment of `bytes`: from `cache` when it holds a sound entry, else compiled by `pool`
 * and then stored. Refusals are not stored on disk: some depend on the machine (a compile's time and
 * memory limits) rather than the bytes, and a remembered one would refuse a good module for good;
 * the pool remembers refusals for the process's life.
 */
export async function compileCached(
  cache: ModuleCache | undefined,
  pool: CompilePool,
  bytes: Uint8Array,
  codeHash: string,
  options: InstrumentOptions,
): Promise<CodeSegment> {
  const hit = await cache?.get(codeHash, options);
  if (hit) return hit;
  const segment = await pool.compile(bytes, codeHash, options);
  await cache?.put(codeHash, options, segment);
  return segment;
}
