// The CLI's module cache: where `ferry run` and `ferry resume` keep instrumented modules between
// runs (so a module is instrumented once per machine, and a run of a cached one never loads
// Binaryen), and `ferry cache` to see or clear it.

import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import { parseArgs } from "node:util";
import { ModuleCache } from "../../runtime/index.js";
import type { Io } from "./options.js";
import { HELP, UsageError } from "./usage.js";

/** parseArgs options every compiling command takes. */
export const CACHE_OPTIONS = {
  "cache-dir": { type: "string" as const },
  "no-cache": { type: "boolean" as const, default: false },
};

/**
 * The cache directory a command uses: none with --no-cache, else --cache-dir, $FERRY_CACHE_DIR,
 * $XDG_CACHE_HOME/ferry (an absolute XDG_CACHE_HOME only, as the XDG spec says) or ~/.cache/ferry.
 */
export function cacheDirOf(
  values: { "cache-dir"?: string | undefined; "no-cache"?: boolean | undefined },
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (values["no-cache"]) {
    if (values["cache-dir"] !== undefined) throw new UsageError("--cache-dir and --no-cache contradict each other");
    return undefined;
  }
  if (values["cache-dir"] !== undefined) {
    if (values["cache-dir"] === "") throw new UsageError("--cache-dir needs a directory");
    return values["cache-dir"];
  }
  if (env.FERRY_CACHE_DIR) return env.FERRY_CACHE_DIR;
  if (env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME)) return join(env.XDG_CACHE_HOME, "ferry");
  return join(homedir(), ".cache", "ferry");
}

/** Engine options for the cache the command line asks for. */
export function cacheOption(values: Parameters<typeof cacheDirOf>[0]): { cacheDir?: string } {
  const dir = cacheDirOf(values);
  return dir === undefined ? {} : { cacheDir: dir };
}

/** `ferry cache [clear] [--cache-dir D] [--json]`: where the cache is and what it holds, or empty it. */
export async function cacheCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "cache-dir": CACHE_OPTIONS["cache-dir"],
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${HELP.cache}\n`);
    return 0;
  }
  const action = positionals[0] ?? "info";
  if (positionals.length > 1 || (action !== "info" && action !== "clear"))
    throw new UsageError(`ferry cache takes "info" (the default) or "clear", got ${positionals.join(" ")}`);
  const cache = new ModuleCache(cacheDirOf(values)!);
  const usage = action === "clear" ? await cache.clear() : await cache.usage();
  if (values.json)
    io.stdout.write(
      `${JSON.stringify({ dir: cache.dir, ...usage, maxBytes: cache.maxBytes, ...(action === "clear" ? { cleared: true } : {}) })}\n`,
    );
  else {
    const mib = (n: number): string => (n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1024 * 1024)).toFixed(1)} MiB`);
    const what = `${usage.entries} instrumented module${usage.entries === 1 ? "" : "s"}, ${mib(usage.bytes)}`;
    io.stdout.write(action === "clear" ? `cleared ${cache.dir}: ${what}\n` : `${cache.dir}: ${what} (at most ${mib(cache.maxBytes)})\n`);
  }
  return 0;
}
