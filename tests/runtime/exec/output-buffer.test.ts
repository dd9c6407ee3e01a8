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
