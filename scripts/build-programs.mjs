// Compiles the real programs under guest/programs/ (Rust, written the way their languages' own
// programmers write them) to the .wasm checked in beside each source. Needs Debian's `rustc` and
// `libstd-rust-dev-wasm32` (apt-get install rustc libstd-rust-dev-wasm32); nothing else in the
// project runs it, so `npm test` and `npm run bench` need no Rust toolchain.

import { execFileSync } from "node:child_process";
import { existsSync, renameSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

// Debian's rustc carries the wasm32 std; a rustup toolchain on PATH first usually does not.
const rustc = ["/usr/bin/rustc", "rustc"].find((c) => c === "rustc" || existsSync(c));

const PROGRAMS = [{ name: "rust-wordfreq", source: "guest/programs/rust-wordfreq/main.rs" }];

for (const p of PROGRAMS) {
  const out = join(root, "guest", "programs", `${p.name}.wasm`);
  const temp = `${out}.tmp`;
  try {
    execFileSync(
      rustc,
      [
        "-O",
        "--edition",
        "2021",
        "--target",
        "wasm32-unknown-unknown",
        "--crate-type",
        "cdylib",
        "-C",
        "panic=abort",
        "-C",
        "strip=symbols",
        "-o",
        temp,
        join(root, p.source),
      ],
      { stdio: "inherit" },
    );
  } catch (e) {
    process.stderr.write(`build-programs: ${p.name}: ${rustc} failed (${e.message}); install rustc and libstd-rust-dev-wasm32\n`);
    process.exit(1);
  }
  renameSync(temp, out);
  process.stdout.write(`build-programs: ${p.name} → ${out}\n`);
}
