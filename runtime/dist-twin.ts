// Worker threads run compiled JS. When the runtime itself is loaded from TypeScript sources (vitest
// runs runtime/*.ts), a worker's script is the twin under dist/ that `npm run build` writes; a twin
// older than the sources it runs is refused, so a test never runs yesterday's code in a worker.

import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const checked = new Set<string>();

/**
 * The directory holding the compiled form of `room` (a folder under runtime/, e.g. "code"), for the
 * module at `moduleUrl` inside it: that module's own directory when it is compiled JS, else its
 * dist/ twin, checked once to hold `script` and every .ts of the room (and `alsoSources`, paths
 * relative to runtime/) no older than its source. `fail` makes the caller's typed error.
 */
export function compiledRoomDir(
  moduleUrl: string,
  room: string,
  script: string,
  fail: (detail: string) => Error,
  alsoSources: readonly string[] = [],
): string {
  const roomDir = dirname(fileURLToPath(moduleUrl));
  if (!moduleUrl.endsWith(".ts")) return roomDir;
  const marker = `/runtime/${room}`;
  const at = roomDir.lastIndexOf(marker);
  if (at < 0) throw fail(`cannot locate the dist/ twin of ${roomDir}`);
  const distDir = `${roomDir.slice(0, at)}/dist${roomDir.slice(at)}`;
  if (checked.has(distDir)) return distDir;
  const built = join(distDir, script);
  if (!existsSync(built)) throw fail(`${built} is missing: workers run compiled JS, run \`npm run build\` first`);
  const runtimeDir = dirname(roomDir);
  const sources = [...readdirSync(roomDir).map((f) => join(room, f)), ...alsoSources].filter((f) => f.endsWith(".ts"));
  for (const source of sources) {
    const js = join(dirname(distDir), source.replace(/\.ts$/, ".js"));
    if (!existsSync(js) || statSync(js).mtimeMs < statSync(join(runtimeDir, source)).mtimeMs) {
      throw fail(`${js} is older than runtime/${source}: workers run compiled JS, run \`npm run build\` first`);
    }
  }
  checked.add(distDir);
  return distDir;
}
