// OutputBuffer: whole reads, reads from an offset, and resets, against a plain concatenation.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OutputBuffer } from "../../../runtime/exec/output-buffer.js";

describe("OutputBuffer", () => {
  it("gives the same bytes as concatenating every write, whole and from any offset", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 12 }), fc.nat(250), (writes, offset) => {
        const b = new OutputBuffer();
        const expected = Buffer.concat(writes);
        writes.forEach((w, i) => {
          b.append(w);
          if (i % 3 === 0) b.all(); // merging midway must not change anything
        });
        expect(Buffer.from(b.all())).toEqual(expected);
        expect(Buffer.from(b.since(offset))).toEqual(expected.subarray(Math.min(offset, expected.length)));
        expect(b.byteLength).toBe(expected.length);
      }),
    );
  });

  it("stays equal to the concatenation across its tail blocks: small and large writes, owned ones, reads between", () => {
    const write = fc.record({
      size: fc.oneof(fc.nat(64), fc.integer({ min: 900, max: 3000 }), fc.integer({ min: 20_000, max: 70_000 })),
      owned: fc.boolean(),
      readAt: fc.option(fc.nat(400_000)),
    });
    fc.assert(
      fc.property(fc.array(write, { maxLength: 40 }), (writes) => {
        const b = new OutputBuffer();
        const parts: Uint8Array[] = [];
        let n = 0;
        for (const w of writes) {
          const bytes = new Uint8Array(w.size).map(() => n++ & 0xff);
          b.append(bytes, w.owned);
          parts.push(bytes.slice());
          if (!w.owned) bytes.fill(0); // the buffer kept a copy
          if (w.readAt !== null) {
            const expected = Buffer.concat(parts);
            expect(Buffer.from(b.since(w.readAt)).equals(expected.subarray(Math.min(w.readAt, expected.length)))).toBe(true);
          }
        }
        expect(Buffer.from(b.all()).equals(Buffer.concat(parts))).toBe(true);
        b.reset(new Uint8Array([7]));
        b.append(new Uint8Array([8]));
        expect([...b.all()]).toEqual([7, 8]);
      }),
      { numRuns: 60 },
    );
  });

  it("copies what it is given and resets cleanly", () => {
    const b = new OutputBuffer();
    const src = new Uint8Array([1, 2, 3]);
    b.append(src);
    src[0] = 9;
    expect([...b.all()]).toEqual([1, 2, 3]);
    b.reset();
    expect(b.byteLength).toBe(0);
    expect(b.all().byteLength).toBe(0);
    b.reset(new Uint8Array([7]));
    expect([...b.since(0)]).toEqual([7]);
  });
});
