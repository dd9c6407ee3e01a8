// The wasm32-wasi programs of guest/programs/ (C with wasi-libc, Rust with std), as a user compiles
// them for any WASI runtime: each does what its source says under Node's own WASI (the reference a
// Ferry run is compared with, wasi-ferry.test.ts), the checked-in .wasm is what its source builds to
// (when the toolchain is here), and Ferry compiles each.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findRepoRoot } from "../../guest/catalog.js";
import { programWasmPath, wordFrequency, wordText } from "../../guest/programs/catalog.js";
import { runUnderNodeWasi } from "../../guest/programs/node-wasi.js";
import { Engine } from "../../runtime/index.js";

const root = findRepoRoot();
const dir = mkdtempSync(join(tmpdir(), "ferry-wasi-programs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WASI_PROGRAMS = ["c-hello", "c-lz", "c-walk", "c-sleep", "rust-wasi-wordfreq"] as const;

describe("the WASI programs under node:wasi (the reference)", () => {
  it("c-hello prints with printf, sees its arguments and environment, and exits with a code", () => {
    const r = runUnderNodeWasi(programWasmPath("c-hello"), "c-hello", { args: ["one", "two"], env: { GREETING: "hi" } });
    expect(r).toEqual({
      exitCode: 2,
      stdout: "hello from C, 2 argument(s)\n  argv[1] = one\n  argv[2] = two\nGREETING=hi\n",
      stderr: "to stderr: done\n",
    });
  });

  it("c-lz compresses a file from a preopen, writes the result, and reads it back identical", () => {
    const data = join(dir, "lz");
    mkdirSync(data);
    const input = wordText(200_000, 7);
    writeFileSync(join(data, "words.txt"), input);
    const r = runUnderNodeWasi(programWasmPath("c-lz"), "c-lz", {
      args: ["/data/words.txt", "/data/words.lz"],
      preopens: { "/data": data },
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("/data/words.txt: 200000 bytes");
    expect(r.stdout).toContain("round trip: identical");
    const packed = readFileSync(join(data, "words.lz"));
    expect(packed.byteLength).toBeGreaterThan(0);
    expect(packed.byteLength).toBeLessThan(input.byteLength);
  });

  it("c-walk walks a directory tree, sorted, with sizes and totals", () => {
    const tree = join(dir, "tree");
    mkdirSync(join(tree, "a", "b"), { recursive: true });
    writeFileSync(join(tree, "a", "one.txt"), "1");
    writeFileSync(join(tree, "a", "b", "two.txt"), "22");
    writeFileSync(join(tree, "three.txt"), "333");
    const r = runUnderNodeWasi(programWasmPath("c-walk"), "c-walk", { args: ["/t"], preopens: { "/t": tree } });
    expect(r).toMatchObject({ exitCode: 0, stderr: "" });
    expect(r.stdout).toBe("/t/a/\n/t/a/b/\n/t/a/b/two.txt 2\n/t/a/one.txt 1\n/t/three.txt 3\n3 files, 2 directories, 6 bytes\n");
  });

  it("c-sleep sleeps with nanosleep and finds the monotonic clock moved at least that far", () => {
    const r = runUnderNodeWasi(programWasmPath("c-sleep"), "c-sleep", { args: ["3", "5"] });
    expect(r).toMatchObject({ exitCode: 0, stdout: "tick 1\ntick 2\ntick 3\nslept at least 15 ms: yes\n" });
  });

  it("rust-wasi-wordfreq counts words of a file with std::fs and a HashMap, and writes the table", () => {
    const data = join(dir, "wf");
    mkdirSync(data);
    const input = wordText(100_000, 3);
    writeFileSync(join(data, "in.txt"), input);
    const r = runUnderNodeWasi(programWasmPath("rust-wasi-wordfreq"), "wordfreq", {
      args: ["/d/in.txt", "/d/out.txt", "5"],
      preopens: { "/d": data },
    });
    const expected = wordFrequency(input, 5);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split("\n").slice(1).join("\n")).toBe(Buffer.from(expected.output).toString());
    const table = readFileSync(join(data, "out.txt"), "utf8").trim().split("\n");
    expect(r.stdout.split("\n")[0]).toMatch(new RegExp(`^\\d+ words, ${table.length} distinct$`));
  });
});

describe("Ferry runs them (tests/guests/wasi-ferry.test.ts compares every run with node:wasi)", () => {
  const engine = new Engine();
  afterAll(() => engine.close());

  it.each(WASI_PROGRAMS)("compiles %s: every WASI import it names is allowed", async (name) => {
    const bytes = readFileSync(programWasmPath(name));
    const wasi = WebAssembly.Module.imports(new WebAssembly.Module(bytes)).filter((i) => i.module === "wasi_snapshot_preview1");
    expect(wasi.length).toBeGreaterThan(0);
    const module = await engine.compile(bytes);
    expect(module.segment.asyncify).toBe(true);
  });
});

// The checked-in .wasm must be what the sources build to. Without Debian's clang, wasi-libc and
// rustc this cannot be checked here: say so, loudly, rather than pass.
const toolchain = spawnSync(process.execPath, [join(root, "scripts", "build-programs.mjs"), "--check"], { cwd: root, encoding: "utf8" });
// 3: no toolchain; 4: another version of it (other, equally good bytes).
const haveToolchain = toolchain.status !== 3 && toolchain.status !== 4;
if (!haveToolchain) console.warn(`wasi-programs: NOT CHECKED that the .wasm match their sources: ${toolchain.stderr.trim()}`);

describe.runIf(haveToolchain)("the checked-in programs", () => {
  it("are what their sources build to (scripts/build-programs.mjs --check)", () => {
    expect(toolchain.stdout).not.toContain("DIFFERS");
    expect(toolchain.status).toBe(0);
  });
});
