// .wast → wast2json's JSON and module files, in a scratch directory. Debian's wabt (1.0.32)
// predates parts of the current suite (GC, typed references, `module definition`, …) and refuses or
// crashes on whole files for one form: what it cannot parse is dropped and the rest converted. An
// error inside a module drops the module field it is in (a function using `(ref null $t)`, say) and
// keeps the module; the raw V8 run guards against what that changes, since an assertion whose
// answer moved is one raw V8 gets wrong, and those are not held against Ferry. An error anywhere
// else, or a crash, drops the whole form; a dropped module takes the commands after it that would
// otherwise run against the module before it.

import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Script } from "./commands.js";
import { blankForms, fieldsOf, splitForms, type Form } from "./wast-forms.js";

export const WAST2JSON = process.env.WAST2JSON ?? "wast2json";

export interface Converted {
  script: Script;
  /** Where the JSON's module files are. */
  dir: string;
  /** Lines of the top-level forms dropped. */
  dropped: number[];
  /** Lines of the module fields dropped (their modules kept). */
  droppedFields: number[];
}

/** Forms that stand alone: dropping the module before them does not change what they test. */
const STANDALONE = new Set(["assert_invalid", "assert_malformed", "assert_unlinkable", "assert_uninstantiable", "module"]);

/** Convert the source less the `blanked` forms (wast2json refuses a script without any form: that is an empty one). */
function attempt(
  source: string,
  forms: readonly Form[],
  blanked: ReadonlySet<Form>,
  path: string,
  out: string,
): { ok: true } | { ok: false; lines: number[]; stderr: string } {
  if (forms.every((f) => blanked.has(f))) {
    writeFileSync(out, JSON.stringify({ source_filename: path, commands: [] }));
    return { ok: true };
  }
  writeFileSync(path, blankForms(source, blanked));
  const r = spawnSync(WAST2JSON, ["--enable-all", path, "-o", out], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`cannot run ${WAST2JSON}: ${r.error.message} (Debian: apt-get install wabt, or set WAST2JSON)`);
  if (r.status === 0) return { ok: true };
  const lines = [...r.stderr.matchAll(/^[^\n]*?:(\d+):\d+: error:/gm)].map((m) => Number(m[1]));
  return { ok: false, lines, stderr: r.stderr };
}

export function convert(wastPath: string, workDir: string): Converted {
  const source = readFileSync(wastPath, "utf8");
  const forms = splitForms(source);
  const base = basename(wastPath, ".wast");
  const path = join(workDir, `${base}.wast`);
  const out = join(workDir, `${base}.json`);
  const dropped = new Set<Form>();
  const droppedFields = new Set<Form>();
  const fields = new Map<Form, Form[]>();
  /**
   * Drop the field of module `i` that holds `line`; false when the line is in no field (the module's
   * own words) or in one dropped in an earlier round (which did not help).
   */
  const dropField = (i: number, line: number, earlier: ReadonlySet<Form>): boolean => {
    const module = forms[i]!;
    if (!fields.has(module)) fields.set(module, fieldsOf(source, module));
    const field = fields.get(module)!.find((f) => f.firstLine <= line && line <= f.lastLine);
    if (!field || earlier.has(field)) return false;
    droppedFields.add(field);
    return true;
  };
  const drop = (i: number) => {
    dropped.add(forms[i]!);
    if (forms[i]!.head !== "module") return;
    for (let k = i + 1; k < forms.length && forms[k]!.head !== "module"; k++) if (!STANDALONE.has(forms[k]!.head)) dropped.add(forms[k]!);
  };
  // Every round drops at least one more form or field (or gives up), so this ends.
  for (;;) {
    const r = attempt(source, forms, new Set([...dropped, ...droppedFields]), path, out);
    if (r.ok) {
      const script = JSON.parse(readFileSync(out, "utf8")) as Script;
      const lines = (set: Set<Form>) => [...set].map((f) => f.firstLine).sort((a, b) => a - b);
      return {
        script,
        dir: workDir,
        dropped: lines(dropped),
        droppedFields: lines(new Set([...droppedFields].filter((f) => ![...dropped].some((d) => d.start <= f.start && f.end <= d.end)))),
      };
    }
    const before = dropped.size + droppedFields.size;
    const earlier = new Set(droppedFields);
    for (const line of r.lines) {
      const i = forms.findIndex((f) => f.firstLine <= line && line <= f.lastLine);
      if (i < 0 || dropped.has(forms[i]!)) continue;
      if (forms[i]!.head !== "module" || !dropField(i, line, earlier)) drop(i);
    }
    // wast2json crashed, or blamed a line outside any form: find the first form that fails alone with those before it.
    if (dropped.size + droppedFields.size === before) {
      const culprit = firstFailing(source, forms, new Set([...dropped, ...droppedFields]), path, out);
      if (culprit === undefined || dropped.has(forms[culprit]!))
        throw new Error(`wast2json fails on ${wastPath} and no single form is to blame: ${r.stderr.slice(0, 300)}`);
      drop(culprit);
    }
  }
}

/** The smallest k such that the forms before k (less the dropped ones) fail: form k-1 is to blame. */
function firstFailing(source: string, forms: readonly Form[], blanked: ReadonlySet<Form>, path: string, out: string): number | undefined {
  const fails = (k: number) => !attempt(source, forms, new Set([...blanked, ...forms.slice(k)]), path, out).ok;
  if (!fails(forms.length)) return undefined;
  let lo = 0; // fails(lo) is false (no forms at all)
  let hi = forms.length; // fails(hi) is true
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (fails(mid)) hi = mid;
    else lo = mid;
  }
  return hi - 1;
}
