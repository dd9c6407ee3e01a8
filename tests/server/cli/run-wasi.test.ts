// `ferry run` on a WASI program, as a user runs it: the real CLI (bin/ferry.js) as a child process,
// the real programs of guest/programs/ — their stdout printed, their stderr on ferry's stderr, their
// exit code ferry's, preopened directories read-write or read-only, the environment exactly what
// --env gives — and the command lines it refuses, each with one line, a status and nothing written.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { guestWasmPath } from "../../../guest/catalog.js";
import { programWasmPath, wordText } from "../../../guest/programs/catalog.js";
import { EXIT } from "../../../server/cli/exit-status.js";
import { ferry } from "../../helpers/cli.js";
import { removeDir } from "../../helpers/node.js";
import { wat } from "../../helpers/wat.js";

const root = mkdtempSync(join(tmpdir(), "ferry-cli-wasi-"));
afterAll(() => removeDir(root));

// Every run shares one module cache of its own: the programs are instrumented once, and nothing
// is written outside this test's temp directory.
const cacheDir = join(root, "cache");
const run = (args: string[], env?: NodeJS.ProcessEnv) => ferry(["run", "--cache-dir", cacheDir, ...args], env ? { env } : {});

/** A fresh directory of its own under the test's temp directory. */
function freshDir(name: string): string {
  return mkdtempSync(join(root, `${name}-`));
}

/** Every file under `dir` with its bytes, to compare a directory before and after. */
function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true }).map(String).sort()) {
    const path = join(dir, entry);
    out[entry] = statSync(path).isDirectory() ? "<dir>" : readFileSync(path).toString("base64");
  }
  return out;
}

// The environment as the program sees it, told by its exit code: count * 100 + the bytes of
// "NAME=VALUE\0" strings (environ_sizes_get).
const ENV_PROBE = join(root, "env-probe.wasm");
writeFileSync(
  ENV_PROBE,
  wat(`(module
    (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start")
      (drop (call $sizes (i32.const 0) (i32.const 4)))
      (call $exit (i32.add (i32.mul (i32.load (i32.const 0)) (i32.const 100)) (i32.load (i32.const 4))))))`),
);

/** Ferry's own environment with a secret in it, which no program may see. */
const SECRET_ENV = { ...process.env, FERRY_SECRET: "x" };

const HELLO_STDOUT = "hello from C, 2 argument(s)\n  argv[1] = one\n  argv[2] = two\nGREETING=hi\n";

describe("ferry run: a WASI program's output, stderr, exit code and environment", () => {
  it("c-hello prints what node:wasi prints, its stderr goes to ferry's, and its exit code is ferry's", async () => {
    const r = await run([programWasmPath("c-hello"), "--env", "GREETING=hi", "--", "one", "two"], SECRET_ENV);
    expect(r.stdout).toBe(HELLO_STDOUT);
    expect(r.stderr).toContain("to stderr: done");
    expect(r.code).toBe(2);
  }, 120_000);

  it("--json: the same output (base64) and the exit code, as one JSON object", async () => {
    const r = await run([programWasmPath("c-hello"), "--json", "--env", "GREETING=hi", "--", "one", "two"]);
    expect(r.code).toBe(2);
    const json = JSON.parse(r.stdout) as { status: string; exitCode: number; output: string };
    expect(json).toMatchObject({ status: "done", exitCode: 2 });
    expect(Buffer.from(json.output, "base64").toString()).toBe(HELLO_STDOUT);
  }, 120_000);

  it("the environment is exactly --env: nothing of ferry's own leaks in", async () => {
    const none = await run([ENV_PROBE], SECRET_ENV);
    expect({ code: none.code, stderr: none.stderr }).toEqual({ code: 0, stderr: "" }); // no variables, no bytes
    const one = await run([ENV_PROBE, "--env", "GREETING=hi"], SECRET_ENV);
    expect({ code: one.code, stderr: one.stderr }).toEqual({ code: 100 + "GREETING=hi\0".length, stderr: "" });
  }, 120_000);

  it("c-sleep sleeps its ticks and finds its clock moved at least that far", async () => {
    const r = await run([programWasmPath("c-sleep"), "--", "2", "5"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("tick 1\ntick 2\nslept at least 10 ms: yes\n");
  }, 120_000);
});

describe("ferry run: preopened directories", () => {
  const input = wordText(200_000, 7);

  it("c-lz with --dir compresses a file of the directory into a smaller one beside it", async () => {
    const data = freshDir("lz");
    writeFileSync(join(data, "words.txt"), input);
    const r = await run([programWasmPath("c-lz"), "--dir", `${data}:/data`, "--", "/data/words.txt", "/data/words.lz"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("/data/words.txt: 200000 bytes");
    expect(r.stdout).toContain("round trip: identical");
    const packed = readFileSync(join(data, "words.lz"));
    expect(packed.byteLength).toBeGreaterThan(0);
    expect(packed.byteLength).toBeLessThan(input.byteLength);
  }, 120_000);

  it("c-lz with --dir-ro cannot write: it fails, and the directory is unchanged", async () => {
    const data = freshDir("lz-ro");
    writeFileSync(join(data, "words.txt"), input);
    const before = contents(data);
    const r = await run([programWasmPath("c-lz"), "--dir-ro", `${data}:/data`, "--", "/data/words.txt", "/data/words.lz"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("/data/words.lz"); // the program says which file it could not write
    expect(existsSync(join(data, "words.lz"))).toBe(false);
    expect(contents(data)).toEqual(before);
  }, 120_000);

  it("c-walk lists the same sorted tree in both sandboxes", async () => {
    const tree = freshDir("tree");
    mkdirSync(join(tree, "a", "b"), { recursive: true });
    writeFileSync(join(tree, "a", "one.txt"), "1");
    writeFileSync(join(tree, "a", "b", "two.txt"), "22");
    writeFileSync(join(tree, "three.txt"), "333");
    const listing = "/t/a/\n/t/a/b/\n/t/a/b/two.txt 2\n/t/a/one.txt 1\n/t/three.txt 3\n3 files, 2 directories, 6 bytes\n";
    for (const sandbox of ["in-process", "isolated"]) {
      const r = await run([programWasmPath("c-walk"), "--sandbox", sandbox, "--dir", `${tree}:/t`, "--", "/t"]);
      expect({ sandbox, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ sandbox, code: 0, stdout: listing, stderr: "" });
    }
  }, 120_000);
});

interface BadCase {
  name: string;
  /** Arguments, given the case's own directory (with words.txt in it). */
  args(dir: string): string[];
  status: number;
  says: RegExp;
}

const BAD: BadCase[] = [
  {
    name: "--dir naming a directory that does not exist",
    args: (d) => [programWasmPath("c-lz"), "--dir", `${join(d, "missing")}:/data`, "--", "/data/words.txt", "/data/words.lz"],
    status: EXIT.usage,
    says: /--dir .*missing.*cannot be used \(ENOENT\)/,
  },
  {
    name: "--dir-ro naming a file, not a directory",
    args: (d) => [programWasmPath("c-lz"), "--dir-ro", `${join(d, "words.txt")}:/data`, "--", "/data/words.txt", "/data/words.lz"],
    status: EXIT.usage,
    says: /--dir-ro .*words\.txt:\/data: .* is not a directory/,
  },
  {
    name: "--env without '='",
    args: (d) => [programWasmPath("c-lz"), "--dir", `${d}:/data`, "--env", "GREETING", "--", "/data/words.txt", "/data/words.lz"],
    status: EXIT.usage,
    says: /--env GREETING: write NAME=VALUE/,
  },
  {
    name: "the same guest path given twice",
    args: (d) => [programWasmPath("c-lz"), "--dir", `${d}:/data`, "--dir-ro", `${d}:/data`, "--", "/data/words.txt", "/data/words.lz"],
    status: EXIT.usage,
    says: /--dir-ro .*:\/data: \/data is given twice/,
  },
  {
    name: "program arguments for a Ferry guest (not a WASI program)",
    args: () => [guestWasmPath("sieve"), "--", "100"],
    status: EXIT.usage,
    says: /program arguments .* are for WASI programs; a Ferry guest takes --args/,
  },
];

describe("ferry run: bad WASI command lines — one line, a non-zero status, nothing written", () => {
  for (const c of BAD) {
    it(c.name, async () => {
      const dir = freshDir("bad");
      writeFileSync(join(dir, "words.txt"), "some words to compress\n");
      const before = contents(dir);
      const r = await run(c.args(dir));
      expect({ status: r.code, stderr: r.stderr }).toMatchObject({ status: c.status });
      expect(r.stderr).toMatch(/^ferry: [^\n]+\n$/); // exactly one line
      expect(r.stderr).toMatch(c.says);
      expect(r.stdout).toBe("");
      expect(contents(dir)).toEqual(before);
    }, 120_000);
  }
});
