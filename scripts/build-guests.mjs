// Compiles every AssemblyScript example guest (guest/examples/<name>.ts, one asconfig.json target
// each) to build/guests/<name>.wasm + .wat in one process. `--force` rebuilds up-to-date guests.

import asc from "assemblyscript/asc";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const scriptPath = fileURLToPath(import.meta.url);
const root = resolve(dirname(scriptPath), "..");
const configPath = join(root, "asconfig.json");
const examplesDir = join(root, "guest", "examples");
const sdkDir = join(root, "guest", "sdk");
const force = process.argv.includes("--force");

// docs/continuation-abi.md: nothing outside this list may be imported (`import_not_allowed`).
const ALLOWED_IMPORTS = new Set([
  "ferry.yield",
  "ferry.checkpoint",
  "ferry.log",
  "ferry.input_size",
  "ferry.input_read",
  "ferry.output_write",
  "env.abort",
  "env.trace",
  "env.seed",
]);

function fail(message) {
  process.stderr.write(`build-guests: ${message}\n`);
  process.exit(1);
}

function filesUnder(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

const mtimeMs = (path) => statSync(path).mtimeMs;

/** Write to a temp name, fsync, rename: a reader never sees half a file (DESIGN.md). */
function writeFileAtomic(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    const bytes = typeof contents === "string" ? Buffer.from(contents, "utf8") : contents;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** The ABI checks a test would otherwise catch much later, with a worse message. */
function checkModule(name, wasm) {
  const module = new WebAssembly.Module(wasm);
  const bad = WebAssembly.Module.imports(module)
    .map((i) => `${i.module}.${i.name}`)
    .filter((i) => !ALLOWED_IMPORTS.has(i));
  if (bad.length > 0) return `${name}: imports outside the Ferry allow-list: ${bad.join(", ")}`;
  const exported = WebAssembly.Module.exports(module).find((e) => e.name === "ferry_continuation");
  if (exported?.kind !== "global") {
    return `${name}: does not export the global ferry_continuation (add \`export { ferry_continuation } from "../sdk"\`)`;
  }
  return null;
}

if (!existsSync(configPath)) fail(`missing ${configPath}`);
const config = JSON.parse(readFileSync(configPath, "utf8"));
const targets = config.targets ?? {};
const guests = Object.keys(targets).sort();

// Every example must have a target and every target an example, so nothing is silently skipped.
const examples = readdirSync(examplesDir)
  .filter((f) => f.endsWith(".ts"))
  .map((f) => f.slice(0, -3))
  .sort();
for (const example of examples) {
  if (!(example in targets)) fail(`guest/examples/${example}.ts has no target in asconfig.json`);
}
for (const name of guests) {
  if (!examples.includes(name)) fail(`asconfig.json target "${name}" has no guest/examples/${name}.ts`);
  if (typeof targets[name].outFile !== "string") fail(`asconfig.json target "${name}" has no outFile`);
}

// Inputs shared by every guest: the SDK, the compiler options, and this script.
const sharedSources = [...filesUnder(sdkDir), configPath, scriptPath];
const sharedNewest = Math.max(...sharedSources.map(mtimeMs));

// asc resolves the config's paths against the working directory.
process.chdir(root);

const stale = guests.filter((name) => {
  const outFile = resolve(root, targets[name].outFile);
  const newestSource = Math.max(sharedNewest, mtimeMs(join(examplesDir, `${name}.ts`)));
  return force || !existsSync(outFile) || mtimeMs(outFile) <= newestSource;
});

// asc compiles only what a guest uses, so an SDK function no example calls would never be
// type-checked. Compiling the SDK as an entry (every export is then used) catches that.
if (stale.length > 0) {
  const stderr = asc.createMemoryStream();
  const result = await asc.main([relative(root, join(sdkDir, "index.ts")), "--config", "asconfig.json", "--noEmit"], {
    stdout: asc.createMemoryStream(),
    stderr,
  });
  // Stop before writing anything: fresh .wasm files would mark a broken SDK as up to date.
  if (result.error) fail(`guest/sdk failed to compile: ${result.error.message}\n${stderr.toString()}`);
}

let built = 0;
const failures = [];
for (const name of stale) {
  const entry = join(examplesDir, `${name}.ts`);
  const outFile = resolve(root, targets[name].outFile);

  // Collect outputs in memory and write them only after the whole compile succeeded.
  const outputs = new Map();
  const stdout = asc.createMemoryStream();
  const stderr = asc.createMemoryStream();
  const result = await asc.main([relative(root, entry), "--config", "asconfig.json", "--target", name], {
    stdout,
    stderr,
    writeFile(filename, contents, baseDir) {
      outputs.set(resolve(baseDir, filename), contents);
    },
  });
  if (result.error) {
    failures.push(`${name}: ${result.error.message}\n${stderr.toString()}`);
    continue;
  }
  const wasm = outputs.get(outFile);
  if (!(wasm instanceof Uint8Array)) {
    failures.push(`${name}: asc produced no ${relative(root, outFile)}`);
    continue;
  }
  const problem = checkModule(name, wasm);
  if (problem) {
    failures.push(problem);
    continue;
  }
  // The .wasm goes last: its mtime is what marks the guest as up to date.
  for (const [path, contents] of outputs) if (path !== outFile) writeFileAtomic(path, contents);
  writeFileAtomic(outFile, wasm);
  built++;
  process.stdout.write(`build-guests: ${name} -> ${relative(root, outFile)} (${wasm.length} bytes)\n`);
}

if (failures.length > 0) fail(`${failures.length} guest(s) failed to build:\n${failures.join("\n")}`);
process.stdout.write(`build-guests: ${built} built, ${guests.length - built} up to date\n`);
