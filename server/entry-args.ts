// Entry arguments checked against the entry's real signature before anything runs or is stored:
// `POST /jobs` (server/node), `ferry run` and `ferry submit` (server/cli). Each refusal is one
// `invalid_arguments` error naming the argument, its type and the range it must be in. The runtime
// checks again when the entry is called (runtime/exec/values.ts); this check is the stricter one
// (no f32 that would overflow to Infinity, no i64 that lost precision in a JSON number).

import { FerryError, MAX_ENTRY_ARGS } from "../runtime/light.js";
import type { WasmValue } from "../runtime/index.js"; // a type: erased, loads nothing

/** An argument before it meets a signature: a number, or an integer too large for one (decimal text). */
export type ArgValue = number | bigint;

const F32_MAX = 3.4028234663852886e38;
const I32_MIN = -(2 ** 31);
const I32_MAX_UNSIGNED = 2 ** 32 - 1;
const I64_MIN = -(2n ** 63n);
const I64_MAX_UNSIGNED = 2n ** 64n - 1n;

const INTEGER_TEXT = /^[+-]?\d+$/;
const DECIMAL_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const SPECIAL_TEXT = /^[+-]?(Infinity|NaN)$/;

/**
 * One command-line argument as text: decimal integers (exact, whatever their size), decimal
 * fractions and exponents, Infinity and NaN. Anything else (hex, empty, words) is refused.
 */
export function parseArgText(text: string, index: number): ArgValue {
  const t = text.trim();
  if (INTEGER_TEXT.test(t)) {
    const n = Number(t);
    return Number.isSafeInteger(n) ? n : BigInt(t);
  }
  if (DECIMAL_TEXT.test(t) || SPECIAL_TEXT.test(t)) return Number(t);
  throw new FerryError("invalid_arguments", `argument ${index} ("${text}") is not a decimal number`);
}

/**
 * Checks `values` against the entry's parameter types and returns them as the values a run takes
 * (i64 as bigint). Throws invalid_arguments naming the first argument that does not fit.
 */
export function checkEntryArgs(entry: { name: string; params: readonly string[] }, values: readonly ArgValue[]): WasmValue[] {
  const { name, params } = entry;
  if (params.length > MAX_ENTRY_ARGS)
    throw new FerryError("invalid_arguments", `"${name}" takes ${params.length} parameters; entries may take at most ${MAX_ENTRY_ARGS}`);
  if (values.length !== params.length) {
    const types = params.length ? ` (${params.join(", ")})` : "";
    throw new FerryError("invalid_arguments", `"${name}" takes ${params.length} argument(s)${types}, got ${values.length}`);
  }
  return params.map((type, i) => checkOne(name, i, type, values[i]!));
}

function checkOne(entry: string, i: number, type: string, v: ArgValue): WasmValue {
  const refuse = (what: string): never => {
    throw new FerryError("invalid_arguments", `argument ${i} of "${entry}" is ${type}: ${what}, got ${String(v)}`);
  };
  switch (type) {
    case "i32": {
      const n = typeof v === "bigint" ? Number(v) : v;
      if (!Number.isInteger(n) || n < I32_MIN || n > I32_MAX_UNSIGNED) refuse(`an integer from ${I32_MIN} to ${I32_MAX_UNSIGNED}`);
      return n;
    }
    case "i64": {
      // A JSON number past 2^53 has already lost digits: such values travel as decimal strings.
      if (typeof v === "number" && !Number.isSafeInteger(v))
        refuse(Number.isInteger(v) ? "an integer beyond ±2^53 must be given as a decimal string" : "an integer");
      const b = BigInt(v);
      if (b < I64_MIN || b > I64_MAX_UNSIGNED) refuse(`an integer from ${I64_MIN} to ${I64_MAX_UNSIGNED}`);
      return b;
    }
    case "f32":
    case "f64": {
      const n = typeof v === "bigint" ? Number(v) : v;
      // Only a finite value that would round to infinity is refused: Infinity and NaN are asked for.
      if (type === "f32" && Number.isFinite(n) && !Number.isFinite(Math.fround(n))) refuse(`a number within ±${F32_MAX}`);
      if (typeof v === "bigint" && !Number.isFinite(n)) refuse("a finite number");
      return n;
    }
    default:
      return refuse("parameters of this type cannot be passed");
  }
}
