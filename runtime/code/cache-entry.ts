// One on-disk module cache entry (module-cache.ts): a code segment sealed with its key and a
// sha256, and the checks that decide whether bytes read back may stand in for a compile. An entry
// is input from disk: anything torn, truncated, flipped or written under another key is refused
// here, never trusted (docs/sandboxes.md, "The module cache").
//
// Layout: "FERRYMC1" | sha256 of everything after it (32) | u32 LE header length | header JSON
// ({ key, segment: the code segment without its bytes, bytes: their length }) | instrumented bytes.

import { createHash } from "node:crypto";
import { PIPELINE_VERSION, stackBytesOf, type CodeSegment, type InstrumentOptions } from "./segment.js";
import { reservedPagesFor } from "./memory-shift.js";

const MAGIC = Buffer.from("FERRYMC1", "latin1");
const PREFIX = MAGIC.length + 32 + 4;

export function encodeEntry(key: string, segment: CodeSegment): Uint8Array {
  const { bytes, ...fields } = segment;
  const header = Buffer.from(JSON.stringify({ key, segment: fields, bytes: bytes.byteLength }), "utf8");
  const out = Buffer.alloc(PREFIX + header.length + bytes.byteLength);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(header.length, MAGIC.length + 32);
  header.copy(out, PREFIX);
  out.set(bytes, PREFIX + header.length);
  createHash("sha256")
    .update(out.subarray(MAGIC.length + 32))
    .digest()
    .copy(out, MAGIC.length);
  return out;
}

/**
 * The code segment `data` holds if it is a sound entry for exactly `key` (of `codeHash` compiled
 * with `options`), else why not. Its bytes are a copy of their own.
 */
export function decodeEntry(data: Uint8Array, key: string, codeHash: string, options: InstrumentOptions): CodeSegment | string {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < PREFIX || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return "not a module cache entry";
  const sum = createHash("sha256")
    .update(buf.subarray(MAGIC.length + 32))
    .digest();
  if (!sum.equals(buf.subarray(MAGIC.length, MAGIC.length + 32))) return "checksum mismatch (torn or damaged)";
  const headerLength = buf.readUInt32LE(MAGIC.length + 32);
  if (headerLength > buf.length - PREFIX) return "header runs past the end";
  let header: { key?: unknown; segment?: unknown; bytes?: unknown };
  try {
    header = JSON.parse(buf.subarray(PREFIX, PREFIX + headerLength).toString("utf8")) as typeof header;
  } catch {
    return "header is not JSON";
  }
  // The full key, not just the file name derived from it: an entry is only ever its own module's.
  if (header.key !== key) return "written under another key";
  const bytes = new Uint8Array(buf.subarray(PREFIX + headerLength)); // a copy: the caller owns (and may transfer) it
  if (header.bytes !== bytes.byteLength) return "length mismatch";
  const segment = { ...(header.segment as object), bytes } as CodeSegment;
  const wrong = checkSegment(segment, codeHash, options);
  if (wrong) return wrong;
  if (!WebAssembly.validate(bytes as BufferSource)) return "instrumented bytes do not validate";
  return segment;
}

/** The fields the runtime relies on, with the types and values this compile would have given them. */
function checkSegment(s: CodeSegment, codeHash: string, options: InstrumentOptions): string | undefined {
  if (s.codeHash !== codeHash) return "code hash mismatch";
  if (s.pipelineVersion !== PIPELINE_VERSION) return "pipeline version mismatch";
  if (s.metering !== options.metering || s.asyncify !== options.asyncify) return "engine settings mismatch";
  if (s.maxMemoryPages !== options.limits.maxMemoryPages) return "memory cap mismatch";
  const counts = [s.originalBytes, s.initialMemoryPages, s.recursiveFunctions, s.checkedFunctions, s.meteredLoops, s.meterBound];
  if (!counts.every((n) => Number.isSafeInteger(n) && n >= 0)) return "bad counts";
  if (![s.hasStart, s.hasContinuation, s.usesCheckpoints].every((b) => typeof b === "boolean")) return "bad flags";
  // The reserved pages are what this compile would reserve, and hold the stack it was asked for.
  const reserves = options.asyncify && !s.hasContinuation;
  const stack = stackBytesOf(options);
  if (s.reservedPages !== (reserves ? reservedPagesFor(stack) : 0) || s.continuationStackBytes !== (reserves ? stack : 0))
    return "continuation pages mismatch";
  if (
    !Array.isArray(s.entries) ||
    !s.entries.every(
      (e) => typeof e?.name === "string" && Number.isSafeInteger(e.exportIndex) && Array.isArray(e.params) && Array.isArray(e.results),
    )
  ) {
    return "bad entries";
  }
  if (
    !Array.isArray(s.globals) ||
    !s.globals.every((g) => Number.isSafeInteger(g?.index) && typeof g.type === "string" && typeof g.exportName === "string")
  ) {
    return "bad globals";
  }
  if (
    !Array.isArray(s.tables) ||
    !s.tables.every(
      (t) =>
        Number.isSafeInteger(t?.index) &&
        (t.type === "funcref" || t.type === "externref") &&
        typeof t.exportName === "string" &&
        Number.isSafeInteger(t.max),
    )
  ) {
    return "bad tables";
  }
  if (!Array.isArray(s.refFunctions) || !s.refFunctions.every((k) => Number.isSafeInteger(k) && k >= 0)) return "bad function references";
  return undefined;
}
