// Comparing snapshots in tests.
import { expect } from "vitest";
import { type ErrorCode, FerryError, type Snapshot } from "../../runtime/index.js";

/** The error code `fn` throws, "ok" if it returns; anything but a FerryError fails the test. */
export function outcome(fn: () => unknown): ErrorCode | "ok" {
  try {
    fn();
    return "ok";
  } catch (e) {
    if (!(e instanceof FerryError)) throw new Error(`expected a FerryError, got ${String(e)}`, { cause: e });
    return e.code;
  }
}

/**
 * The snapshot with every byte array replaced by its base64 text: the same deep equality under
 * toEqual, but compared natively (element-wise toEqual on many 64 KiB arrays takes seconds).
 */
export function comparableSnapshot(s: Snapshot): Record<string, unknown> {
  const b64 = (b: Uint8Array): string => {
    expect(b).toBeInstanceOf(Uint8Array);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
  };
  return {
    ...s,
    continuation: b64(s.continuation),
    input: b64(s.input),
    output: b64(s.output),
    memory: { pageCount: s.memory.pageCount, pages: s.memory.pages.map((p) => ({ index: p.index, bytes: b64(p.bytes) })) },
    code: s.code === undefined ? undefined : b64(s.code),
  };
}
