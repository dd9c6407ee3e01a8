// The spec-suite runner (conformance/, docs/conformance.md) on .wast scripts written for this test
// (tests/fixtures/conformance): what it runs, how it judges each kind of assertion, and that a
// real disagreement between Ferry and V8 is reported and fails the command. Needs wast2json
// (Debian's wabt package), as the runner does.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parseOptions } from "../../conformance/options.js";
import { runConformance, type ConformanceResult } from "../../conformance/run.js";
import { renderReport } from "../../conformance/tally.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/conformance/", import.meta.url));
const MAIN = fileURLToPath(new URL("../../dist/conformance/main.js", import.meta.url));

const hasWast2json = !spawnSync(process.env.WAST2JSON ?? "wast2json", ["--version"]).error;

async function run(dir: string, ...flags: string[]): Promise<ConformanceResult> {
  return runConformance(parseOptions([dir, ...flags]));
}

const scratch = mkdtempSync(join(tmpdir(), "conformance-runner-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("the conformance runner", () => {
  it("finds wast2json (apt-get install wabt)", () => {
    expect(hasWast2json).toBe(true);
  });

  it("runs assert_return, assert_trap, actions, get, register and the refusal assertions: all agreed in every mode", async () => {
    const { total } = await run(join(FIXTURES, "agree"), "--snapshot-every", "1", "--only", "runs.wast");
    expect(total.disagreements).toEqual([]);
    expect(total.rawMismatches).toEqual([]);
    // Three modules: two accepted, the importer refused by code (the spectest and registered imports).
    expect([total.modules, total.accepted, total.refused]).toEqual([3, 2, { import_not_allowed: 1 }]);
    // 22 run assertions; the importer's and the exporter's after it (its state changed in raw only) are skipped.
    expect(total.assertions).toBe(22);
    expect(total.skipped).toEqual({
      "module refused: import_not_allowed": 1,
      "a module that imports it has changed its state (Ferry refuses such imports)": 1,
    });
    expect(total.agreed).toEqual({ straight: 20, sliced: 20, snapshot: 20 });
    // Slicing and snapshotting really paused (the loop of `sum`), and traps were followed by replays.
    expect(total.pauses.sliced).toBeGreaterThan(100);
    expect(total.pauses.snapshot).toBeGreaterThan(10);
    expect(total.replays).toBeGreaterThan(0);
    // assert_invalid, assert_malformed and two assert_unlinkable: refused.
    expect([total.refusals, total.refusalsAgreed, total.refusalsDisagreed]).toEqual([4, 4, 0]);
  });

  it("assert_exhaustion is stack_overflow", async () => {
    const { total } = await run(join(FIXTURES, "agree"), "--only", "exhaustion.wast", "--snapshot-every", "0");
    expect(total.assertions).toBe(1);
    expect(total.agreed.straight).toBe(1);
    expect(total.disagreements.filter((d) => d.where === "straight")).toEqual([]);
  });

  it("reports a disagreement between Ferry and V8, and does not judge Ferry where V8 itself differs from the spec", async () => {
    const { groups, total } = await run(join(FIXTURES, "disagree"), "--max-memory-pages", "1", "--snapshot-every", "0");
    expect(total.disagreements.map((d) => [d.file, d.line, d.where])).toEqual([
      ["grow.wast", 8, "straight"],
      ["grow.wast", 8, "sliced"],
    ]);
    expect(total.disagreements[0]!.detail).toContain("expected i32:0x00000001");
    expect(total.rawMismatches).toEqual([{ file: "grow.wast", line: 9, detail: "expected i32:0x00000003, got i32:0x00000002" }]);
    const report = renderReport(groups, total);
    expect(report).toContain("grow.wast:8 assert_return [straight]");
    expect(report).toContain("Disagreements: 2");
  });

  it("compares NaN payloads bit for bit, and nan:canonical / nan:arithmetic as the spec says", async () => {
    const dir = mkdtempSync(join(scratch, "nan-"));
    writeFileSync(
      join(dir, "nan.wast"),
      `(module
        (func (export "neg") (param f32) (result f32) (f32.neg (local.get 0)))
        (func (export "div") (param f64 f64) (result f64) (f64.div (local.get 0) (local.get 1))))
      (assert_return (invoke "neg" (f32.const nan:0x200000)) (f32.const -nan:0x200000))
      (assert_return (invoke "neg" (f32.const nan:0x200000)) (f32.const -nan:0x200001))
      (assert_return (invoke "neg" (f32.const nan:0x200000)) (f32.const nan:arithmetic))
      (assert_return (invoke "div" (f64.const 0) (f64.const 0)) (f64.const nan:canonical))
      (assert_return (invoke "div" (f64.const 0) (f64.const 0)) (f64.const 0))`,
    );
    const { total } = await run(dir, "--snapshot-every", "0");
    expect(total.agreed.straight).toBe(2);
    // A payload one bit off, a signaling NaN that is not arithmetic, and 0/0 that is no number: V8 is told apart from each.
    expect(total.rawMismatches.map((m) => m.line)).toEqual([5, 6, 8]);
    expect(total.rawMismatches[0]!.detail).toBe("expected f32:0xffa00001, got f32:0xffa00000");
  });

  it("keeps the file's own line numbers when wast2json cannot convert a form, and drops only that", async () => {
    const dir = mkdtempSync(join(scratch, "drop-"));
    writeFileSync(
      join(dir, "drop.wast"),
      `(module
  (func (export "one") (result i32) (i32.const 1))
  (func (export "new") (result i32) (i32.not_an_instruction (i32.const 1))))
(assert_return (invoke "one") (i32.const 1))
(assert_return (invoke "one") (i32.const 2))
`,
    );
    const { total } = await run(dir, "--snapshot-every", "0");
    expect(total.fieldsDropped).toBe(1);
    expect(total.agreed.straight).toBe(1);
    expect(total.rawMismatches.map((m) => m.line)).toEqual([5]);
  });
});

describe("npm run conformance (dist/conformance/main.js)", () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8" });

  it("exits 0 when everything agreed, printing the table", () => {
    const r = cli(join(FIXTURES, "agree"), "--only", "runs.wast", "--quiet");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\| proposal \| files \| modules \| accepted/m);
    expect(r.stdout).toContain("Disagreements: 0");
  });

  it("exits 1 on a disagreement and names it", () => {
    const r = cli(join(FIXTURES, "disagree"), "--max-memory-pages", "1", "--quiet");
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("grow.wast:8 assert_return [straight]");
  });

  it("exits 2 on bad usage", () => {
    expect(cli().status).toBe(2);
    expect(cli(FIXTURES, "--slice-fuel", "0").status).toBe(2);
    expect(cli(join(FIXTURES, "no-such-dir")).status).toBe(2);
  });
});
