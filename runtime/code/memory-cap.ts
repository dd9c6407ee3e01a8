// Sets the memory's declared maximum in an emitted binary, so memory.grow past the cap fails
// inside the guest (returns -1) instead of growing the host. Binaryen's API cannot change a
// memory's limits without rebuilding its data segments, so the memory section is rewritten here.

import { FerryError } from "../errors.js";
import { uleb } from "./wasm-encode.js";

const MEMORY_SECTION = 5;

export function capMemoryMaximum(bytes: Uint8Array, maxPages: number): Uint8Array {
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos]!;
    const [size, sizeLen] = readU32(bytes, pos + 1);
    const bodyStart = pos + 1 + sizeLen;
    const bodyEnd = bodyStart + size;
    if (id === MEMORY_SECTION) {
      const [count, countLen] = readU32(bytes, bodyStart);
      if (count !== 1) throw new FerryError("instrumentation_failed", `expected one memory, found ${count}`);
      let p = bodyStart + countLen;
      const flags = bytes[p++]!;
      const [min, minLen] = readU32(bytes, p);
      p += minLen;
      let max = maxPages;
      if (flags & 1) max = Math.min(readU32(bytes, p)[0], maxPages);
      const body = [...uleb(1), 0x01, ...uleb(min), ...uleb(Math.max(min, max))];
      const section = [MEMORY_SECTION, ...uleb(body.length), ...body];
      const out = new Uint8Array(bytes.length - (bodyEnd - pos) + section.length);
      out.set(bytes.subarray(0, pos), 0);
      out.set(section, pos);
      out.set(bytes.subarray(bodyEnd), pos + section.length);
      return out;
    }
    pos = bodyEnd;
  }
  throw new FerryError("instrumentation_failed", "instrumented module has no memory section");
}

function readU32(bytes: Uint8Array, pos: number): [number, number] {
  let result = 0;
  for (let i = 0; i < 5; i++) {
    const b = bytes[pos + i]!;
    result += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return [result, i + 1];
  }
  throw new FerryError("instrumentation_failed", "malformed LEB128 in emitted binary");
}
