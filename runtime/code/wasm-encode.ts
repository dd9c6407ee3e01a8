// The few pieces of the WebAssembly binary format the pipeline writes by hand (the memory cap, the
// memory prefix, the table helpers; the conformance runner's thunks too): LEB128 integers,
// sections, and joining byte runs.

/** `value` (0 ≤ value < 2^53) as an unsigned LEB128. */
export function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/** uleb as bytes, for joining with concatBytes. */
export function ulebBytes(value: number): Uint8Array {
  return Uint8Array.from(uleb(value));
}

/** A 32-bit signed integer as a signed LEB128. */
export function sleb32(value: number): number[] {
  const out: number[] = [];
  value |= 0;
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** The byte runs one after another, as a Uint8Array (not a Buffer: callers hand it to V8 and Binaryen). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const joined = Buffer.concat(parts);
  return new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
}

/** A section: its id, its content's length, its content. */
export function encodeSection(id: number, content: readonly Uint8Array[]): Uint8Array {
  const body = concatBytes(content);
  return concatBytes([Uint8Array.of(id), ulebBytes(body.byteLength), body]);
}
