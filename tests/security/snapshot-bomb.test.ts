// Decompression bombs: a few MB of snapshot whose deflated memory inflates to gigabytes. Every
// decoder (the codec's defaults, `ferry resume`, `ferry inspect`) must refuse one before it
// inflates anything. Each bomb's second chunk is a broken deflate stream: a decoder that starts
// inflating reports snapshot_malformed, one that refuses first reports snapshot_limit.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateRawSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { findRepoRoot } from "../../guest/catalog.js";
import {
  DEFAULT_MAX_MEMORY_PAGES,
  PIPELINE_VERSION,
  WASM_PAGE_BYTES,
  decodeSnapshot,
  encodeSnapshot,
  inspectSnapshot,
  snapshotDecodeLimits,
} from "../../runtime/index.js";
import { wat } from "../helpers/wat.js";

const SPIN = wat(`(module (memory 1) (func (export "main") (loop $l (br $l))))`);
const CHUNK_PAGES = 256;

const bombs = new Map<number, Promise<Uint8Array>>();
function bomb(pageCount: number): Promise<Uint8Array> {
  let made = bombs.get(pageCount);
  if (!made) bombs.set(pageCount, (made = makeBomb(pageCount)));
  return made;
}

/**
 * A snapshot (module embedded) whose memory is `pageCount` pages of 1s, 256 to a deflated chunk.
 * Decoding comes first, so the rest need not be restorable.
 */
async function makeBomb(pageCount: number): Promise<Uint8Array> {
  const real = encodeSnapshot({
    codeHash: createHash("sha256").update(SPIN).digest("hex"),
    pipelineVersion: PIPELINE_VERSION,
    continuation: new Uint8Array(64),
    globals: [],
    memory: { pageCount: 1, pages: [] },
    input: new Uint8Array(0),
    output: new Uint8Array(0),
    code: SPIN,
  });
  const stream = deflateRawSync(new Uint8Array(CHUNK_PAGES * WASM_PAGE_BYTES).fill(1), { level: 9 });
  const broken = stream.slice();
  broken[broken.byteLength >> 1] ^= 0xff;
  const chunks = pageCount / CHUNK_PAGES;
  const u32 = (...values: number[]): Buffer => {
    const b = Buffer.alloc(4 * values.length);
    for (const [i, v] of values.entries()) b.writeUInt32LE(v, 4 * i);
    return b;
  };
  const indices = u32(...Array.from({ length: pageCount }, (_, i) => i));
  const table = Buffer.concat(
    Array.from({ length: chunks }, (_, k) => Buffer.concat([Buffer.from([1, 0, 0, 0]), u32((k === 1 ? broken : stream).byteLength)])),
  );
  const memory = Buffer.concat([
    u32(pageCount, pageCount, CHUNK_PAGES),
    indices,
    table,
    ...Array.from({ length: chunks }, (_, k) => (k === 1 ? broken : stream)),
  ]);
  // Every section of the real snapshot, the memory one (tag 4) replaced; then header and digest again.
  const sections: Buffer[] = [];
  const body = Buffer.from(real);
  for (let at = 18; at < body.byteLength - 32; ) {
    const tag = body.readUInt32LE(at);
    const length = Number(body.readBigUInt64LE(at + 4));
    const payload = tag === 4 ? memory : body.subarray(at + 12, at + 12 + length);
    const header = Buffer.alloc(12);
    header.writeUInt32LE(tag, 0);
    header.writeBigUInt64LE(BigInt(payload.byteLength), 4);
    sections.push(header, payload);
    at += 12 + length;
  }
  const head = Buffer.from(body.subarray(0, 18));
  const total = 18 + sections.reduce((n, s) => n + s.byteLength, 0) + 32;
  head.writeBigUInt64LE(BigInt(total), 10);
  const unsealed = Buffer.concat([head, ...sections]);
  return new Uint8Array(Buffer.concat([unsealed, createHash("sha256").update(unsealed).digest()]));
}

function codeOf(f: () => unknown): string {
  try {
    f();
    return "decoded";
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

const dir = mkdtempSync(join(tmpdir(), "ferry-bomb-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a snapshot decompression bomb", () => {
  it("is a few MB declaring 4 GiB of stored memory", async () => {
    const bytes = await bomb(65_536);
    expect(bytes.byteLength).toBeLessThan(8 * 1024 * 1024);
    const info = inspectSnapshot(bytes); // reads the layout only, inflates nothing
    expect(info.memory).toMatchObject({ pageCount: 65_536, storedPageCount: 65_536, deflatedChunks: 256 });
  });

  it("is refused by the decoder's default caps before anything is inflated", async () => {
    const bytes = await bomb(65_536);
    expect(codeOf(() => decodeSnapshot(bytes))).toBe("snapshot_limit");
    // Within the page cap given, the inflated bytes are still capped (what decoding allocates).
    expect(codeOf(() => decodeSnapshot(bytes, { maxMemoryPages: 65_536, maxDecodedBytes: 16 * 1024 * 1024 }))).toBe("snapshot_limit");
    expect(codeOf(() => decodeSnapshot(bytes, snapshotDecodeLimits(DEFAULT_MAX_MEMORY_PAGES)))).toBe("snapshot_limit");
    // A bomb small enough for the caps is inflated, and its broken chunk is found: the caps decide.
    const small = await bomb(512);
    expect(codeOf(() => decodeSnapshot(small))).toBe("snapshot_malformed");
  });

  it("is refused by `ferry resume` and `ferry inspect` with the caps a node uses (exit 3, snapshot_limit)", async () => {
    const root = findRepoRoot();
    const bin = join(root, "bin", "ferry.js");
    expect(existsSync(join(root, "dist", "lab", "commands.js")), "run `npm run build` first (npm test does)").toBe(true);
    const file = join(dir, "bomb.ferry");
    writeFileSync(file, await bomb(65_536));
    const ferry = (...args: string[]) =>
      new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(process.execPath, [bin, ...args], { cwd: dir }, (error, _stdout, stderr) =>
          resolve({ code: error ? Number(error.code) : 0, stderr }),
        );
      });
    for (const command of [
      ["resume", file],
      ["inspect", file],
      ["resume", file, "--max-memory-pages", "8192"],
    ]) {
      const r = await ferry(...command);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain("snapshot_limit");
    }
  });
});
