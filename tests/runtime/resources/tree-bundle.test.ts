// Directory trees as one byte string (runtime/resources/tree-bundle.ts), the way a migration's
// PRE-COPY and PREPARE bodies carry them: an honest bundle decodes to what was encoded, and every
// way a hostile peer can bend one — the framing, the index, the manifests, the blobs, the limits —
// is refused as tree_malformed before anything is handed out.
import { describe, expect, it } from "vitest";
import { decodeTreeBundle, encodeTreeBundle, missingBlob, readManifest, type TreeManifest } from "../../../runtime/index.js";
import { digest } from "../../../runtime/resources/tree-transfer.js";
import { refusal } from "../../helpers/errors.js";

const LIMITS = { maxEntries: 100, maxBytes: 1024 * 1024 };
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const sha = (s: string): string => digest(bytes(s));
const file = (path: string, content: string) => ({ path, type: "file" as const, size: Buffer.byteLength(content), sha256: sha(content) });

/** A bundle framed by hand: any index (as JSON text or a value) and any bytes after it. */
function framed(index: unknown, tail: Uint8Array[] = [], magic = "FERRYTB1"): Uint8Array {
  const json = Buffer.from(typeof index === "string" ? index : JSON.stringify(index), "utf8");
  const prefix = Buffer.alloc(12);
  prefix.write(magic, 0, "latin1");
  prefix.writeUInt32LE(json.byteLength, 8);
  return new Uint8Array(Buffer.concat([prefix, json, ...tail]));
}

/** An index carrying `content` once, as blob 0, for the manifests in `trees`. */
function carrying(trees: Record<string, unknown>, ...content: string[]): Uint8Array {
  return framed(
    { trees, blobs: content.map((c) => [sha(c), Buffer.byteLength(c)]) },
    content.map((c) => bytes(c)),
  );
}

describe("a tree bundle, encoded and decoded", () => {
  it("round-trips the manifests and the blobs, each blob once however many files share it", () => {
    const data: TreeManifest = readManifest({
      entries: [{ path: "d", type: "directory" }, file("d/a.txt", "same"), file("b.txt", "same"), file("empty", "")],
    });
    const logs: TreeManifest = readManifest({ entries: [file("log", "line\n")] });
    const blobs = new Map([
      [sha("same"), bytes("same")],
      [sha(""), bytes("")],
      [sha("line\n"), bytes("line\n")],
    ]);
    const encoded = encodeTreeBundle({
      trees: new Map([
        ["/data", data],
        ["/logs", logs],
      ]),
      blobs,
    });
    const decoded = decodeTreeBundle(encoded, LIMITS);
    expect(decoded.trees).toEqual(
      new Map([
        ["/data", data],
        ["/logs", logs],
      ]),
    );
    expect(new Map([...decoded.blobs].map(([k, v]) => [k, Buffer.from(v).toString()]))).toEqual(
      new Map([...blobs].map(([k, v]) => [k, Buffer.from(v).toString()])),
    );
    expect(missingBlob(decoded.trees, (h) => decoded.blobs.has(h))).toBeUndefined();
  });

  it("may name blobs it does not carry (an earlier round sent them): missingBlob names the first file without bytes", () => {
    const trees = new Map([["/data", readManifest({ entries: [file("a", "sent before"), file("b", "here")] })]]);
    const decoded = decodeTreeBundle(encodeTreeBundle({ trees, blobs: new Map([[sha("here"), bytes("here")]]) }), LIMITS);
    expect(missingBlob(decoded.trees, (h) => decoded.blobs.has(h))).toBe("/data: a");
    expect(missingBlob(decoded.trees, (h) => decoded.blobs.has(h) || h === sha("sent before"))).toBeUndefined();
  });

  it("decodes an empty bundle (no trees, no blobs)", () => {
    const decoded = decodeTreeBundle(encodeTreeBundle({ trees: new Map(), blobs: new Map() }), LIMITS);
    expect(decoded.trees.size).toBe(0);
    expect(decoded.blobs.size).toBe(0);
  });
});

describe("a malformed tree bundle: tree_malformed", () => {
  const honest = carrying({ "/data": { entries: [file("a", "abc")] } }, "abc");
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ["nothing at all", new Uint8Array(0), /does not start with FERRYTB1/],
    ["another magic", framed({ trees: {}, blobs: [] }, [], "FERRYTB2"), /does not start with FERRYTB1/],
    ["an index longer than the bundle", honest.subarray(0, 20), /does not fit/],
    ["an index that is not JSON", framed("{trees:"), /not JSON/],
    ["an index that is null", framed("null"), /not an object/],
    ["trees that are a list", framed({ trees: [], blobs: [] }), /trees is not an object/],
    ["blobs that are not a list", framed({ trees: {}, blobs: {} }), /blobs is not a list/],
    ["a path that climbs out", carrying({ "/data": { entries: [file("../x", "abc")] } }, "abc"), /outside the tree/],
    ["an absolute path", carrying({ "/data": { entries: [file("/etc/passwd", "abc")] } }, "abc"), /outside the tree/],
    ["a path with NUL", carrying({ "/data": { entries: [file("a\0b", "abc")] } }, "abc"), /outside the tree/],
    ["a file before its directory", carrying({ "/data": { entries: [file("d/f", "abc")] } }, "abc"), /before its directory/],
    ["a blob that is not [sha256, length]", framed({ trees: {}, blobs: [["nothex", 3]] }, [bytes("abc")]), /blob 0 is not/],
    ["a negative blob length", framed({ trees: {}, blobs: [[sha("abc"), -1]] }, [bytes("abc")]), /blob 0 is not/],
    ["a blob running past the end", framed({ trees: {}, blobs: [[sha("abc"), 4]] }, [bytes("abc")]), /runs past the end/],
    ["a blob not matching its digest", framed({ trees: {}, blobs: [[sha("abc"), 3]] }, [bytes("abd")]), /does not match its digest/],
    ["bytes after the last blob", framed({ trees: {}, blobs: [[sha("abc"), 3]] }, [bytes("abcd")]), /1 bytes follow/],
  ];

  it.each(cases)("refuses %s", async (_what, bundle, message) => {
    const e = await refusal(() => decodeTreeBundle(bundle, LIMITS));
    expect(e.code).toBe("tree_malformed");
    expect(e.message).toMatch(message);
  });

  it("control: the honest bundle the cases bend decodes", () => {
    expect(decodeTreeBundle(honest, LIMITS).trees.get("/data")?.bytes).toBe(3);
  });

  it("refuses more blob bytes than the limit", async () => {
    const e = await refusal(() => decodeTreeBundle(carrying({}, "0123456789"), { ...LIMITS, maxBytes: 5 }));
    expect(e).toMatchObject({ code: "tree_malformed" });
    expect(e.message).toMatch(/more than 5 bytes/);
  });

  it("refuses more entries than the limit across all its trees together", async () => {
    const three = { entries: [file("a", "x"), file("b", "x"), file("c", "x")] };
    const e = await refusal(() => decodeTreeBundle(carrying({ "/one": three, "/two": three }, "x"), { ...LIMITS, maxEntries: 5 }));
    expect(e.code).toBe("tree_malformed");
    expect(decodeTreeBundle(carrying({ "/one": three, "/two": three }, "x"), { ...LIMITS, maxEntries: 6 }).trees.size).toBe(2);
  });

  it("refuses more file bytes than the limit across all its trees together, even when they share one blob", async () => {
    // Each tree alone fits; laid down, the two would write twice the limit from 4 bytes of blob.
    const tree = { entries: [file("big", "abcd")] };
    const e = await refusal(() => decodeTreeBundle(carrying({ "/one": tree, "/two": tree }, "abcd"), { ...LIMITS, maxBytes: 6 }));
    expect(e.code).toBe("tree_malformed");
    expect(e.message).toMatch(/more than 6 bytes/);
  });
});
