// GET /jobs/:id/output?offset=N&limit=M: which page of a job's output is asked for, checked so a bad
// one is a 400 naming the parameter.

import { MAX_OUTPUT_PAGE_BYTES } from "../node/ferry-node.js";
import { ServerError } from "../errors.js";

export function parseOutputQuery(params: URLSearchParams): { offset: number; limit: number } {
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const text = params.get(name);
    if (text === null) return fallback;
    const n = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw new ServerError("bad_request", `${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  for (const key of params.keys())
    if (key !== "offset" && key !== "limit") throw new ServerError("bad_request", `unknown parameter "${key}"`);
  return { offset: int("offset", 0, 0, Number.MAX_SAFE_INTEGER), limit: int("limit", MAX_OUTPUT_PAGE_BYTES, 1, MAX_OUTPUT_PAGE_BYTES) };
}
