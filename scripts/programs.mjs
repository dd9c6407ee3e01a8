// The real programs under guest/programs/ and how each is compiled (scripts/build-programs.mjs).
// rust-wordfreq imports Ferry's host functions; the others are wasm32-wasi programs, as a user
// compiles them for any WASI runtime.

const C = ["--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-g0", "-Wl,--strip-all"];
const RUST_WASI = [
  "-O",
  "--edition",
  "2021",
  "--target",
  "wasm32-wasi",
  "-C",
  "debuginfo=0",
  "-C",
  "strip=symbols",
  "--remap-path-prefix",
  "=.",
];

/**
 * What the checked-in .wasm were built with (Debian 12's packages). `--check` compares bytes only
 * with these versions: another compiler version makes other, equally good bytes.
 */
export const TOOLCHAIN = [
  { path: "/usr/bin/clang", debian: "clang lld", version: ["/usr/bin/clang", "--version"], expect: "Debian clang version 14.0.6" },
  {
    path: "/usr/lib/wasm32-wasi/libc.a",
    debian: "wasi-libc",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax, not a template.
    version: ["dpkg-query", "-W", "-f=${Version}", "wasi-libc"],
    expect: "0.0~git20220510.9886d3d-2",
  },
  { path: "/usr/bin/rustc", debian: "rustc libstd-rust-dev-wasm32", version: ["/usr/bin/rustc", "--version"], expect: "rustc 1.63.0" },
];

// The PATH each compiler runs with. clang finds its linker beside itself and must find no wasm-opt;
// rustc needs Debian's rust-lld from /usr/bin.
const CLANG_PATH = "/nonexistent";
const RUSTC_PATH = "/usr/bin:/bin";

const c = (name) => ({
  name,
  compiler: "/usr/bin/clang",
  path: CLANG_PATH,
  flags: C,
  source: `guest/programs/${name}/main.c`,
  wasm: `guest/programs/${name}.wasm`,
});

export const PROGRAMS = [
  {
    name: "rust-wordfreq",
    compiler: "/usr/bin/rustc",
    path: RUSTC_PATH,
    flags: [
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
    ],
    source: "guest/programs/rust-wordfreq/main.rs",
    wasm: "guest/programs/rust-wordfreq.wasm",
  },
  c("c-hello"),
  c("c-lz"),
  c("c-walk"),
  c("c-sleep"),
  {
    name: "rust-wasi-wordfreq",
    compiler: "/usr/bin/rustc",
    path: RUSTC_PATH,
    flags: RUST_WASI,
    source: "guest/programs/rust-wasi-wordfreq/main.rs",
    wasm: "guest/programs/rust-wasi-wordfreq.wasm",
  },
];
