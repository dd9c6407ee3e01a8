// What an instrumented module depends on, as one string: the key of the on-disk module cache
// (module-cache.ts). Two compiles with equal keys produce the same code segment, so an entry may
// stand in for a compile only under its own key, compared in full.

import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { compiledCodeDir } from "./compile-pool.js";
import { PIPELINE_VERSION, stackBytesOf, type InstrumentOptions } from "./segment.js";

/** Bump when the entry layout or the code segment's fields change (module-cache.ts). */
export const CACHE_FORMAT = 1;

/**
 * The key of `codeHash` (sha256 of the original bytes) compiled with `options`: the cache format,
 * PIPELINE_VERSION, a fingerprint of the pipeline's compiled code and Binaryen's version (so a
 * rebuilt or upgraded pipeline never meets entries of the old one, bumped version or not), and every
 * option that changes the output or what is accepted — metering, Asyncify, the memory cap (written
 * into the module), the continuation stack (the pages reserved for it) and every module limit (an entry made under looser limits must not let a module
 * past tighter ones).
 */
export function cacheKey(codeHash: string, options: InstrumentOptions): string {
  const limits = Object.keys(options.limits)
    .sort()
    .map((k) => `${k}=${options.limits[k as keyof typeof options.limits]}`)
    .join(",");
  const flags = `metering=${options.metering ? 1 : 0} asyncify=${options.asyncify ? 1 : 0} eagerLoopFuel=${options.eagerLoopFuel ? 1 : 0} stack=${stackBytesOf(options)}`;
  return `ferry-module-cache/${CACHE_FORMAT} pipeline=${PIPELINE_VERSION} build=${pipelineFingerprint()} module=${codeHash} ${flags} limits=${limits}`;
}

let fingerprint: string | undefined;

/**
 * sha256 over the compiled files a compile worker runs (runtime/code/*.js, errors.js, limits.js —
 * the same set compile-pool checks for freshness) and Binaryen's package version. Read once per
 * process: about 20 small files.
 */
export function pipelineFingerprint(): string {
  if (fingerprint !== undefined) return fingerprint;
  const codeDir = compiledCodeDir();
  const files = [
    ...readdirSync(codeDir)
      .filter((f) => f.endsWith(".js"))
      .sort()
      .map((f) => join(codeDir, f)),
    join(codeDir, "..", "errors.js"),
    join(codeDir, "..", "limits.js"),
  ];
  const h = createHash("sha256");
  for (const file of files)
    h.update(`${file.slice(codeDir.length)}\0`)
      .update(readFileSync(file))
      .update("\0");
  h.update(`binaryen ${binaryenVersion()}`);
  fingerprint = h.digest("hex").slice(0, 32);
  return fingerprint;
}

/** Binaryen's version from its package.json, without loading Binaryen itself (seconds). */
function binaryenVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return String((JSON.parse(readFileSync(require.resolve("binaryen/package.json"), "utf8")) as { version?: unknown }).version);
  } catch {
    return "unknown"; // no Binaryen here: nothing can be compiled, and entries still must match
  }
}
