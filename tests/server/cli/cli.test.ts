// The `ferry` command as a user runs it: real child processes of the built CLI (npm test builds).
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findRepoRoot, guestWasmPath } from "../../../guest/catalog.js";
import * as reference from "../../../guest/reference.js";
import { TRAPS } from "../../helpers/fixtures.js";

const root = findRepoRoot();
const bin = join(root, "bin", "ferry.js");
const dir = mkdtempSync(join(tmpdir(), "ferry-cli-"));

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function ferry(...args: string[]): Promise<Ran> {
  expect(existsSync(join(root, "dist", "lab", "commands.js")), "run `npm run build` first (npm test does)").toBe(true);
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: dir, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 99) : 0, stdout, stderr });
    });
  });
}

const trapsWasm = join(dir, "traps.wasm");
writeFileSync(trapsWasm, TRAPS);

describe("ferry run", () => {
  it("prints the entry's return value", async () => {
    const r = await ferry("run", guestWasmPath("sieve"), "--args", "100000");
    expect(r).toMatchObject({ code: 0, stdout: `${reference.sieve(100_000)}\n` });
  });

  it("prints the guest's output, then the value, with the same result whatever the slice", async () => {
    const { value, output } = reference.mandelbrot(30, 10);
    const whole = await ferry("run", guestWasmPath("mandelbrot"), "--args", "30,10");
    const sliced = await ferry("run", guestWasmPath("mandelbrot"), "--args", "30", "--args", "10", "--slice", "500");
    expect(whole.stdout).toBe(`${Buffer.from(output).toString()}${value}\n`);
    expect(sliced.stdout).toBe(whole.stdout);
  });

  it("reads --input and reports JSON with --json", async () => {
    const text = reference.wordfreqText(200);
    writeFileSync(join(dir, "words.txt"), text);
    const r = await ferry("run", guestWasmPath("wordfreq"), "--args", "3", "--input", join(dir, "words.txt"), "--json", "--slice", "5000");
    const json = JSON.parse(r.stdout) as { status: string; value: number; output: string; pauses: number };
    const expected = reference.wordfreq(new TextEncoder().encode(text), 3);
    expect(r.code).toBe(0);
    expect(json).toMatchObject({ status: "done", value: expected.value });
    expect(Buffer.from(json.output, "base64").equals(Buffer.from(expected.output))).toBe(true);
    expect(json.pauses).toBeGreaterThan(0);
  });

  it("exits 1 with the trap code when the guest traps", async () => {
    const r = await ferry("run", trapsWasm, "--entry", "div0", "--args", "0");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("integer_divide_by_zero");
  });

  it("gives the same output, exit status and trap codes with --sandbox isolated", async () => {
    for (const args of [
      ["run", guestWasmPath("sieve"), "--args", "100000", "--slice", "100000"],
      ["run", trapsWasm, "--entry", "div0", "--args", "0"],
      ["run", guestWasmPath("sieve"), "--args", "1000000", "--fuel", "10000", "--slice", "1000"],
    ]) {
      const inProcess = await ferry(...args);
      const isolated = await ferry(...args, "--sandbox", "isolated");
      expect({ code: isolated.code, stdout: isolated.stdout, stderr: isolated.stderr }).toEqual({
        code: inProcess.code,
        stdout: inProcess.stdout,
        stderr: inProcess.stderr,
      });
    }
  });

  it("ends a run over its --fuel budget with out_of_fuel", async () => {
    const r = await ferry("run", guestWasmPath("sieve"), "--args", "1000000", "--fuel", "10000", "--slice", "1000");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("out_of_fuel");
  });
});

describe("checkpoint, inspect, resume", () => {
  it("resumes a checkpoint in a new process and prints the same value", async () => {
    const snap = join(dir, "nbody.ferry");
    // 78 slices, 26 checkpoints: each is written atomically (with an fsync), so hundreds cost seconds.
    const run = await ferry(
      "run",
      guestWasmPath("nbody"),
      "--args",
      "20000",
      "--slice",
      "1000000",
      "--checkpoint-every",
      "3",
      "--out",
      snap,
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${reference.nbody(20_000)}\n`);

    const inspect = await ferry("inspect", snap, "--json");
    expect(inspect.code).toBe(0);
    const info = JSON.parse(inspect.stdout) as { codeHash: string; embedsModule: boolean; continuation: { state: string } };
    expect(info.codeHash).toMatch(/^[0-9a-f]{64}$/);
    expect(info.embedsModule).toBe(true);
    expect(info.continuation.state).toBe("paused");
    expect((await ferry("inspect", snap)).stdout).toContain(info.codeHash);

    const resumed = await ferry("resume", snap);
    expect(resumed).toMatchObject({ code: 0, stdout: run.stdout });
    const resumedSliced = await ferry("resume", snap, "--slice", "777", "--module", guestWasmPath("nbody"));
    expect(resumedSliced.stdout).toBe(run.stdout);
  });
});

describe("bad command lines and inputs", () => {
  it.each([
    [["--help"], 0],
    [["run", "--help"], 0],
    [["help", "resume"], 0],
    [[], 2],
    [["launch"], 2],
    [["run"], 2],
    [["run", "missing.wasm"], 2],
    [["run", "x.wasm", "--slice", "zero"], 2],
    [["run", "x.wasm", "--checkpoint-every", "2"], 2],
    [["run", "x.wasm", "--bogus"], 2],
    [["run", "x.wasm", "--sandbox", "vm"], 2],
    [["serve", "--precopy-rounds", "0"], 2],
    [["serve", "--precopy-rounds", "17"], 2],
    [["serve", "--max-running-jobs", "-1"], 2],
  ])("ferry %j exits %i", async (args, code) => {
    const r = await ferry(...args);
    expect(r.code).toBe(code);
    if (code === 2) expect(r.stderr).toMatch(/^ferry: /);
  });

  it("rejects a file that is not WebAssembly with exit 3 and the error code", async () => {
    writeFileSync(join(dir, "text.wasm"), "hello");
    const r = await ferry("run", join(dir, "text.wasm"));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("not_wasm");
  });

  it("rejects wrong argument counts with invalid_arguments", async () => {
    const r = await ferry("run", guestWasmPath("sieve"), "--args", "1,2");
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("invalid_arguments");
  });

  it("rejects a corrupted snapshot with snapshot_corrupt and leaves the file alone", async () => {
    const snap = join(dir, "sieve.ferry");
    // Any checkpoint will do: about 19 slices, 9 of them written (slices of 20,000 fuel wrote a thousand, 10 s and more).
    const run = JSON.parse(
      (
        await ferry(
          "run",
          guestWasmPath("sieve"),
          "--args",
          "300000",
          "--slice",
          "2000000",
          "--checkpoint-every",
          "2",
          "--out",
          snap,
          "--json",
        )
      ).stdout,
    ) as { status: string; checkpoints: number };
    expect(run.status).toBe("done");
    expect(run.checkpoints).toBeGreaterThan(0);
    const bytes = readFileSync(snap);
    bytes[Math.floor(bytes.length / 2)] ^= 0x40;
    const bad = join(dir, "bad.ferry");
    writeFileSync(bad, bytes);
    for (const command of ["resume", "inspect"]) {
      const r = await ferry(command, bad);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain("snapshot_corrupt");
    }
    expect(readFileSync(bad).equals(bytes)).toBe(true);
  });
});
