// A job to follow from the command line: TICKER writes "tick\n" and logs "tock" every `spin` loop
// turns, forever; `startedFerry` leaves a `ferry` child running (logs --follow, serve) and collects
// what it prints (wait on it with helpers/until.ts, never a fixed sleep).
import { spawn, type ChildProcess } from "node:child_process";
import { FERRY_BIN } from "./cli.js";
import { wat } from "./wat.js";

export const TICKER = wat(`(module
  (import "ferry" "output_write" (func $out (param i32 i32)))
  (import "ferry" "log" (func $log (param i32 i32)))
  (memory 1)
  (data (i32.const 0) "tick\\n")
  (data (i32.const 16) "tock")
  (func (export "ticker") (param $spin i32)
    (local $j i32)
    (loop $l
      (call $out (i32.const 0) (i32.const 5))
      (call $log (i32.const 16) (i32.const 4))
      (local.set $j (i32.const 0))
      (loop $w (local.set $j (i32.add (local.get $j) (i32.const 1))) (br_if $w (i32.lt_u (local.get $j) (local.get $spin))))
      (br $l))))`);

export interface Started {
  child: ChildProcess & { stdout: NonNullable<ChildProcess["stdout"]> };
  /** What it printed so far. */
  out: { stdout: string; stderr: string };
  /** Its exit status (128 + 9 if killed). */
  exited: Promise<number>;
  /** SIGKILL if still running. */
  kill(): void;
}

/** `ferry ...args`, left running (and added to `track`, for killing at the end). */
export function startedFerry(args: readonly string[], track?: Started[]): Started {
  const child = spawn(process.execPath, [FERRY_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 128 + 9)));
  const started = {
    child: child as Started["child"],
    out,
    exited,
    kill: () => void (child.exitCode === null && child.signalCode === null && child.kill("SIGKILL")),
  };
  track?.push(started);
  return started;
}
