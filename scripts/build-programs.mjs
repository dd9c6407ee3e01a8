// Compiles the real programs under guest/programs/ (C and Rust, written the way their languages'
// own programmers write them) to the .wasm checked in beside each source, so that `npm test` and
// `npm run bench` need no C or Rust toolchain. Needs Debian's packages (apt-get install clang lld
// wasi-libc libclang-rt-dev-wasm32 rustc libstd-rust-dev-wasm32); `--check` builds into a temporary
// directory and exits 1 if any checked-in .wasm differs, 3 if the toolchain is missing, 4 if it is
// another version than the one they were built with (tests/guests/wasi-programs.test.ts runs it). Builds are reproducible: fixed flags, no debug info, sources
// passed by their path relative to the repository, and a fixed PATH (scripts/programs.mjs): clang
// runs any `wasm-opt` it finds on PATH after linking (npm's binaryen puts one in
// node_modules/.bin), which would make the bytes depend on who runs the build.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PROGRAMS, TOOLCHAIN } from "./programs.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const missing = TOOLCHAIN.filter((t) => !existsSync(t.path));
if (missing.length > 0) {
  process.stderr.write(
    `build-programs: missing ${missing.map((t) => t.path).join(", ")}: apt-get install ${missing.map((t) => t.debian).join(" ")}\n`,
  );
  process.exit(3);
}

if (check) {
  const other = TOOLCHAIN.filter((t) => {
    try {
      return !execFileSync(t.version[0], t.version.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).includes(t.expect);
    } catch {
      return true;
    }
  });
  if (other.length > 0) {
    process.stderr.write(
      `build-programs: not the toolchain the .wasm were built with (${other.map((t) => t.expect).join(", ")}): nothing compared\n`,
    );
    process.exit(4);
  }
}

const scratch = mkdtempSync(join(tmpdir(), "ferry-programs-"));
let stale = 0;
try {
  for (const p of PROGRAMS) {
    const out = join(root, p.wasm);
    const built = join(scratch, `${p.name}.wasm`);
    try {
      execFileSync(p.compiler, [...p.flags, "-o", built, p.source], {
        cwd: root,
        stdio: ["ignore", "inherit", "inherit"],
        env: { PATH: p.path },
      });
    } catch (e) {
      process.stderr.write(`build-programs: ${p.name}: ${p.compiler} failed (${e.message})\n`);
      process.exit(1);
    }
    if (check) {
      const same = existsSync(out) && readFileSync(out).equals(readFileSync(built));
      if (!same) stale++;
      process.stdout.write(`build-programs: ${p.name} ${same ? "up to date" : "DIFFERS from its source's build"}\n`);
    } else {
      renameSync(built, out);
      process.stdout.write(`build-programs: ${p.name} → ${p.wasm}\n`);
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(stale > 0 ? 1 : 0);
