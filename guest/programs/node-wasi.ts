// A WASI program run by Node's own WASI (node:wasi), uninstrumented: the reference a Ferry run of
// the same program must match (output, files, exit status), as guest/raw-host.ts is for programs
// that import Ferry's host functions. node:wasi keeps its state in C and cannot be snapshotted,
// which is why Ferry does not wrap it; it is only the yardstick.

import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WASI } from "node:wasi";

export interface WasiRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface WasiRunOptions {
  /** argv[1..]; argv[0] is the program's name. */
  args?: readonly string[];
  env?: Record<string, string>;
  /** Guest path → host directory. */
  preopens?: Record<string, string>;
}

const modules = new Map<string, WebAssembly.Module>();

export function runUnderNodeWasi(wasmPath: string, name: string, options: WasiRunOptions = {}): WasiRun {
  let module = modules.get(wasmPath);
  if (!module) modules.set(wasmPath, (module = new WebAssembly.Module(readFileSync(wasmPath))));
  const dir = mkdtempSync(join(tmpdir(), "ferry-node-wasi-"));
  const out = openSync(join(dir, "stdout"), "w");
  const err = openSync(join(dir, "stderr"), "w");
  try {
    const wasi = new WASI({
      version: "preview1",
      args: [name, ...(options.args ?? [])],
      env: options.env ?? {},
      preopens: options.preopens ?? {},
      stdout: out,
      stderr: err,
      returnOnExit: true,
    });
    const instance = new WebAssembly.Instance(module, wasi.getImportObject() as WebAssembly.Imports);
    const exitCode = wasi.start(instance);
    return { exitCode, stdout: readFileSync(join(dir, "stdout"), "utf8"), stderr: readFileSync(join(dir, "stderr"), "utf8") };
  } finally {
    closeSync(out);
    closeSync(err);
    rmSync(dir, { recursive: true, force: true });
  }
}
