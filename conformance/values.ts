// Spec test values as wast2json writes them ({"type":"f32","value":"2143289344"}: integers and
// float bits in unsigned decimal, "nan:canonical" / "nan:arithmetic" for NaN patterns, v128 as lanes),
// the bits of a result, and the comparison the spec harness makes: bit for bit, except that a
// `nan:canonical` result must be the canonical NaN of either sign and a `nan:arithmetic` one any
// NaN with the quiet bit set.

export interface SpecValue {
  type: string;
  value?: string | string[];
  lane_type?: string;
  /** `either`: any of these is a right answer (relaxed SIMD). */
  values?: SpecValue[];
}

/** A result as bits: integers and floats by their bit pattern, v128 as 128 bits, references as 1 (null) or 0. */
export interface Bits {
  type: string;
  bits: bigint;
}

export const NUMERIC = new Set(["i32", "i64", "f32", "f64"]);
export const REFERENCE = new Set([
  "funcref",
  "externref",
  "anyref",
  "eqref",
  "i31ref",
  "structref",
  "arrayref",
  "exnref",
  "nullref",
  "nullfuncref",
  "nullexternref",
]);

const WIDTH: Record<string, number> = { i8: 8, i16: 16, i32: 32, i64: 64, f32: 32, f64: 64 };

const dv = new DataView(new ArrayBuffer(8));

function isNanPattern(s: string): boolean {
  return s.startsWith("nan:");
}

/** The value's bit pattern (integers and floats, v128 from its lanes). Not for NaN patterns or references. */
export function valueBits(v: SpecValue): bigint {
  if (v.type === "v128") {
    const lanes = v.value as string[];
    const width = WIDTH[v.lane_type ?? ""] ?? 0;
    let bits = 0n;
    for (const [i, lane] of lanes.entries()) bits |= (BigInt(lane) & ((1n << BigInt(width)) - 1n)) << BigInt(i * width);
    return bits;
  }
  return BigInt(v.value as string);
}

/** Whether an argument or expectation holds a NaN (any float lane): JS can change such a value's bits. */
export function holdsNan(v: SpecValue): boolean {
  if (v.values) return v.values.some(holdsNan);
  if (v.type === "f32" || v.type === "f64") {
    const s = v.value as string | undefined;
    if (s === undefined) return false;
    if (isNanPattern(s)) return true;
    const bits = BigInt(s);
    return v.type === "f32"
      ? (bits & 0x7f800000n) === 0x7f800000n && (bits & 0x7fffffn) !== 0n
      : (bits & 0x7ff0000000000000n) === 0x7ff0000000000000n && (bits & 0xfffffffffffffn) !== 0n;
  }
  return false;
}

/** The JS value the Wasm JS API takes for a numeric argument. */
export function toJs(v: SpecValue): number | bigint {
  const bits = BigInt(v.value as string);
  switch (v.type) {
    case "i32":
      return Number(BigInt.asIntN(32, bits));
    case "i64":
      return BigInt.asIntN(64, bits);
    case "f32":
      dv.setUint32(0, Number(bits));
      return dv.getFloat32(0);
    case "f64":
      dv.setBigUint64(0, bits);
      return dv.getFloat64(0);
    default:
      throw new Error(`no JS value for ${v.type}`);
  }
}

/** The bits of a numeric result that came back through the JS API. */
export function fromJs(type: string, x: unknown): Bits | undefined {
  switch (type) {
    case "i32":
      return typeof x === "number" ? { type, bits: BigInt(x >>> 0) } : undefined;
    case "i64":
      return typeof x === "bigint" ? { type, bits: BigInt.asUintN(64, x) } : undefined;
    case "f32":
      if (typeof x !== "number") return undefined;
      dv.setFloat32(0, x);
      return { type, bits: BigInt(dv.getUint32(0)) };
    case "f64":
      if (typeof x !== "number") return undefined;
      dv.setFloat64(0, x);
      return { type, bits: dv.getBigUint64(0) };
    default:
      return undefined;
  }
}

function floatMatches(width: 32 | 64, expected: string, bits: bigint): boolean {
  const exponent = width === 32 ? 0x7f800000n : 0x7ff0000000000000n;
  const quiet = width === 32 ? 0x400000n : 0x8000000000000n;
  const magnitude = bits & (width === 32 ? 0x7fffffffn : 0x7fffffffffffffffn);
  if (expected === "nan:canonical") return magnitude === (exponent | quiet);
  if (expected === "nan:arithmetic") return (magnitude & (exponent | quiet)) === (exponent | quiet);
  return BigInt(expected) === bits;
}

function laneMatches(laneType: string, expected: string, bits: bigint): boolean {
  if (laneType === "f32") return floatMatches(32, expected, bits);
  if (laneType === "f64") return floatMatches(64, expected, bits);
  const width = BigInt(WIDTH[laneType] ?? 0);
  return (BigInt(expected) & ((1n << width) - 1n)) === bits;
}

/** Does `actual` satisfy the spec's expectation `expected`? */
export function matches(expected: SpecValue, actual: Bits): boolean {
  if (expected.type === "either") return (expected.values ?? []).some((alternative) => matches(alternative, actual));
  if (expected.type !== actual.type) return false;
  const value = expected.value;
  if (value === undefined) return true;
  switch (expected.type) {
    case "i32":
    case "i64":
      return BigInt(value as string) === actual.bits;
    case "f32":
      return floatMatches(32, value as string, actual.bits);
    case "f64":
      return floatMatches(64, value as string, actual.bits);
    case "v128": {
      const laneType = expected.lane_type ?? "";
      const width = WIDTH[laneType];
      if (!width) return false;
      return (value as string[]).every((lane, i) =>
        laneMatches(laneType, lane, (actual.bits >> BigInt(i * width)) & ((1n << BigInt(width)) - 1n)),
      );
    }
    default:
      // References: the runner can tell null from non-null, not which object.
      return REFERENCE.has(expected.type) && (value === "null") === (actual.bits === 1n);
  }
}

/** Two results of the same call (an action's Ferry run against its raw run): bits, any NaN equal to any NaN. */
export function sameResult(a: Bits, b: Bits): boolean {
  if (a.type !== b.type) return false;
  if (a.bits === b.bits) return true;
  if (a.type === "f32" || a.type === "f64")
    return holdsNan({ type: a.type, value: String(a.bits) }) && holdsNan({ type: b.type, value: String(b.bits) });
  return false;
}

export function showBits(b: Bits): string {
  if (REFERENCE.has(b.type)) return `${b.type}:${b.bits === 1n ? "null" : "non-null"}`;
  const hexWidth = b.type === "v128" ? 32 : b.type === "i64" || b.type === "f64" ? 16 : 8;
  return `${b.type}:0x${b.bits.toString(16).padStart(hexWidth, "0")}`;
}

export function showValue(v: SpecValue): string {
  if (v.type === "either") return `either(${(v.values ?? []).map(showValue).join(" | ")})`;
  if (v.value === undefined) return v.type;
  if (Array.isArray(v.value))
    return `${v.type}:${v.lane_type}[${v.value.map((l) => (isNanPattern(l) ? l : `0x${BigInt(l).toString(16)}`)).join(" ")}]`;
  if (isNanPattern(v.value) || REFERENCE.has(v.type)) return `${v.type}:${v.value}`;
  return showBits({ type: v.type, bits: BigInt(v.value) });
}
