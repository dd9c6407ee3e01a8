// A WASI program run by Node's own WASI (node:wasi), uninstrumented: the reference a Ferry run of
// the same program must match (output, files, exit status), as guest/raw-host.ts is for programs
// that import Ferry's host functions. node:wasi keeps its state in C and cannot be snapshotted,
// which is why Ferry does not wrap it; it is only the yardstick.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

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

// Each run in a process of its own: Node 20's node:wasi can abort its process when a garbage
// collection runs an earlier instance's destructor inside a later one's fd_write (seen in the
// benchmarks and in a test process holding two nodes), and a yardstick must not take down the test
// that holds it. The script is inline so it runs the same from sources and from dist/.
const RUN_ONE = `
const { WASI } = require("node:wasi");
const fs = require("node:fs");
const o = JSON.parse(process.argv[1]);
const out = fs.openSync(o.stdout, "w");
const err = fs.openSync(o.stderr, "w");
const wasi = new WASI({ version: "preview1", args: o.argv, env: o.env, preopens: o.preopens, stdout: out, stderr: err, returnOnExit: true });
const instance = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(o.wasm)), wasi.getImportObject());
const exitCode = wasi.start(instance);
fs.closeSync(out);
fs.closeSync(err);
process.stdout.write(JSON.stringify({ exitCode }));
`;

/** Attempts before a run that keeps dying by a signal is an error. */
const ATTEMPTS = 3;

export function runUnderNodeWasi(wasmPath: string, name: string, options: WasiRunOptions = {}): WasiRun {
  const dir = mkdtempSync(join(tmpdir(), "ferry-node-wasi-"));
  const request = {
    wasm: wasmPath,
    argv: [name, ...(options.args ?? [])],
    env: options.env ?? {},
    preopens: options.preopens ?? {},
    stdout: join(dir, "stdout"),
    stderr: join(dir, "stderr"),
  };
  try {
    for (let attempt = 1; ; attempt++) {
      const child = spawnSync(process.execPath, ["--no-warnings", "-e", RUN_ONE, JSON.stringify(request)], { encoding: "utf8", env: {} });
      if (child.status === 0) {
        const { exitCode } = JSON.parse(child.stdout) as { exitCode: number };
        return { exitCode, stdout: readFileSync(request.stdout, "utf8"), stderr: readFileSync(request.stderr, "utf8") };
      }
      if (child.signal === null || attempt >= ATTEMPTS)
        throw new Error(`node:wasi run of ${name} failed (status ${child.status}, signal ${child.signal}): ${child.stderr.slice(-2000)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
