// A README walkthrough written as ```console blocks — `$ command` lines, each followed by what it
// prints, abridged with `…` — read back as steps a test can run and check.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { findRepoRoot } from "../../guest/catalog.js";

export interface Step {
  /** The command as typed, without the `$ `. */
  command: string;
  /** The lines shown under it: each must be a line the command printed (stdout or stderr), `…` standing for anything. */
  expected: string[];
}

/** The steps of every console block between `<!-- NAME…-->` and `<!-- /NAME -->` in README.md. */
export function readmeWalkthrough(name: string): Step[] {
  const readme = readFileSync(join(findRepoRoot(), "README.md"), "utf8");
  const start = readme.indexOf(`<!-- ${name}`);
  const end = readme.indexOf(`<!-- /${name} -->`);
  if (start < 0 || end < start) throw new Error(`README has no <!-- ${name} --> … <!-- /${name} --> section`);
  const steps: Step[] = [];
  for (const block of readme.slice(start, end).matchAll(/```console\n([\s\S]*?)```/g)) {
    for (const line of block[1]!.split("\n")) {
      if (line.startsWith("$ ")) steps.push({ command: line.slice(2).trim(), expected: [] });
      else if (line.trim() !== "") {
        const step = steps.at(-1);
        if (!step) throw new Error(`README ${name}: output "${line}" before any command`);
        step.expected.push(line);
      }
    }
  }
  return steps;
}

/** Whether some printed line is the shown line, `…` matching anything (the whole line, not a part of one). */
export function printedLine(shown: string, printed: string): boolean {
  const pattern = shown
    .split("…")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  const re = new RegExp(`^${pattern}$`);
  return printed.split("\n").some((line) => re.test(line));
}
