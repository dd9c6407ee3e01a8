// The whole run: every .wast file under the directory, converted and run one after another (one
// engine per file, so compiled modules do not pile up), tallied per proposal.

import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { Engine } from "../runtime/index.js";
import { convert } from "./convert.js";
import type { RunnerOptions } from "./options.js";
import { RawHost } from "./raw.js";
import { runScript } from "./script.js";
import { addTally, emptyTally, type Tally } from "./tally.js";

export interface ConformanceResult {
  groups: Map<string, Tally>;
  total: Tally;
}

export function findWastFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".wast")) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** The proposal a file belongs to: its directory ("proposals/threads"), "core" at the top. */
export function groupOf(root: string, file: string): string {
  const parts = relative(root, file).split(sep);
  if (parts.length === 1) return "core";
  if (parts[0] === "proposals" && parts.length > 2) return `proposals/${parts[1]}`;
  return parts.slice(0, -1).join("/");
}

export async function runConformance(options: RunnerOptions, progress: (line: string) => void = () => {}): Promise<ConformanceResult> {
  const files = findWastFiles(options.dir).filter((f) => options.only === undefined || relative(options.dir, f).includes(options.only));
  const groups = new Map<string, Tally>();
  const total = emptyTally();
  const work = mkdtempSync(join(tmpdir(), "ferry-conformance-"));
  try {
    for (const [n, file] of files.entries()) {
      const name = relative(options.dir, file);
      const group = groupOf(options.dir, file);
      const started = performance.now();
      const dir = mkdtempSync(join(work, "script-"));
      let t: Tally;
      try {
        const converted = convert(file, dir);
        t = await runScript(converted, name, {
          engine: new Engine({ maxMemoryPages: options.maxMemoryPages }),
          raw: new RawHost(),
          options,
        });
      } catch (e) {
        // A file wast2json cannot convert at all, or a runner failure: counted, named, not fatal.
        t = emptyTally();
        t.files = 1;
        t.filesNotRun.push(`${name}: ${(e as Error).message.split("\n")[0]!.slice(0, 200)}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      if (!groups.has(group)) groups.set(group, emptyTally());
      addTally(groups.get(group)!, t);
      addTally(total, t);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      progress(
        `[${n + 1}/${files.length}] ${name}: ${t.modules} modules (${t.accepted} accepted), ${t.assertions} assertions, ${t.disagreements.length} disagreements, ${seconds} s`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { groups, total };
}
