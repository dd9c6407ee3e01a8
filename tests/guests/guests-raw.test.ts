// Runs every example guest UNINSTRUMENTED (plain WebAssembly.instantiate, a minimal host written
// here) against guest/reference.ts, so a wrong guest or reference fails here, not in the runtime.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { rawHost } from "../../guest/raw-host.js";
import { allowedImport, importTrust } from "../../runtime/host/index.js";
import { benchCases, findRepoRoot, GUEST_NAMES, guestWasmPath, smallCases, type ExampleCase } from "../../guest/catalog.js";

const MAGIC = 0x59525246;
const ABI_VERSION = 1;
const HEADER_BYTES = 96;
const SDK_STACK_BYTES = 64 * 1024;
const OFFSET_RESUME_LABEL = 12;
const OFFSET_STACK_CAPACITY = 24;
const INPUT_READ_MAX_BYTES = 64 * 1024;

/** Thrown by env.abort: an AssemblyScript assertion or bounds check failed in the guest. */

interface RawRun {
  value: number;
  output: Uint8Array;
  /** Entry calls it took: 1 unless the guest stopped at checkpoints and was called again. */
  calls: number;
  /** resume_label after each call that stopped at a checkpoint. */
  labels: number[];
  logs: string[];
  memory: WebAssembly.Memory;
  continuation: number;
}

/** Decides, per ferry.checkpoint call, whether the host asks the guest to stop (1) or not (0). */
type CheckpointPolicy = (n: number) => 0 | 1;
const neverStop: CheckpointPolicy = () => 0;
const alwaysStop: CheckpointPolicy = () => 1;

const moduleCache = new Map<string, WebAssembly.Module>();
function loadModule(path: string): WebAssembly.Module {
  let module = moduleCache.get(path);
  if (!module) {
    module = new WebAssembly.Module(readFileSync(path));
    moduleCache.set(path, module);
  }
  return module;
}

/** An AssemblyScript string: UTF-16LE, byte length in the object header just before it. */
function run(c: ExampleCase, policy: CheckpointPolicy = neverStop): RawRun {
  const logs: string[] = [];
  let stopRequested = false;
  const host = rawHost({
    input: c.input ?? new Uint8Array(0),
    // Short reads are allowed by the ABI; serving at most 64 KiB makes the SDK loop.
    maxReadBytes: INPUT_READ_MAX_BYTES,
    checkpoint: (n) => {
      const reply = policy(n);
      if (reply === 1) stopRequested = true;
      return reply;
    },
    onLog: (line) => logs.push(line),
  });

  const instance = new WebAssembly.Instance(loadModule(c.wasmPath), host.imports);
  const memory = instance.exports.memory as WebAssembly.Memory;
  host.attach(memory);
  const entry = instance.exports[c.entry] as (...args: number[]) => number;
  const continuation = (instance.exports.ferry_continuation as WebAssembly.Global).value as number;

  // The explicit-continuation protocol: when the guest returns after the host asked it to stop,
  // call the same entry with the same arguments until it returns without being asked.
  let value: number;
  let calls = 0;
  const labels: number[] = [];
  for (;;) {
    stopRequested = false;
    value = entry(...c.args);
    calls++;
    if (!stopRequested) break;
    labels.push(new DataView(memory.buffer).getInt32(continuation + OFFSET_RESUME_LABEL, true));
    if (calls > 1_000_000) throw new Error("guest never finished");
  }
  return { value, output: host.output(), calls, labels, logs, memory, continuation };
}

function expectMatches(c: ExampleCase, r: RawRun): void {
  // Object.is: f64 results must match bit for bit (and -0 !== 0).
  expect(Object.is(r.value, c.expected.value), `${c.name}: got ${r.value}, expected ${c.expected.value}`).toBe(true);
  expect(r.output.length).toBe(c.expected.output.length);
  expect(Buffer.from(r.output).equals(Buffer.from(c.expected.output))).toBe(true);
}

/** The stack buffer is the guest's only to lend: no static data or heap object may live there. */
function expectStackBufferUntouched(r: RawRun): void {
  const view = new DataView(r.memory.buffer);
  const capacity = view.getUint32(r.continuation + OFFSET_STACK_CAPACITY, true);
  const buffer = new Uint8Array(r.memory.buffer, r.continuation + HEADER_BYTES, capacity);
  expect(buffer.every((b) => b === 0)).toBe(true);
}

beforeAll(() => {
  // Incremental: skips every guest that is already up to date.
  execFileSync(process.execPath, [join(findRepoRoot(), "scripts", "build-guests.mjs")], { stdio: "pipe" });
});

describe("example guest modules", () => {
  it.each(GUEST_NAMES)("%s imports only allow-listed host functions", (name) => {
    const imports = WebAssembly.Module.imports(loadModule(guestWasmPath(name)));
    // What anonymous code may import, by the host-interface registry (runtime/host/).
    for (const i of imports) {
      const anonymous = allowedImport(i.module, i.name) !== undefined && importTrust(i.module, i.name) === "anonymous";
      expect(anonymous, `${i.module}.${i.name}`).toBe(true);
    }
  });

  it.each(GUEST_NAMES)("%s exports an immutable ferry_continuation global pointing at a v1 header", (name) => {
    const module = loadModule(guestWasmPath(name));
    const exported = WebAssembly.Module.exports(module).find((e) => e.name === "ferry_continuation");
    expect(exported?.kind).toBe("global");

    const instance = new WebAssembly.Instance(module, stubImports(module));
    const global = instance.exports.ferry_continuation;
    expect(global).toBeInstanceOf(WebAssembly.Global);
    const g = global as WebAssembly.Global;
    expect(typeof g.value).toBe("number"); // i32, not i64 (bigint) or a reference
    expect(() => {
      g.value = 0;
    }).toThrow(TypeError); // immutable

    const address = g.value as number;
    const memory = instance.exports.memory as WebAssembly.Memory;
    const view = new DataView(memory.buffer);
    expect(address % 8).toBe(0);
    expect(view.getUint32(address, true)).toBe(MAGIC);
    expect(Buffer.from(memory.buffer, address, 4).toString("latin1")).toBe("FRRY");
    expect(view.getUint16(address + 4, true)).toBe(ABI_VERSION);
    expect(view.getUint16(address + 6, true)).toBe(HEADER_BYTES);
    const capacity = view.getUint32(address + OFFSET_STACK_CAPACITY, true);
    expect(capacity).toBe(SDK_STACK_BYTES);
    expect(address + HEADER_BYTES + capacity).toBeLessThanOrEqual(memory.buffer.byteLength);
    // Host-owned fields start zeroed: state fresh, resume_label 0, no Asyncify data, no flags, no fuel.
    for (const offset of [8, 12, 16, 20, 28]) expect(view.getUint32(address + offset, true)).toBe(0);
    for (const offset of [32, 40]) expect(view.getBigUint64(address + offset, true)).toBe(0n);
  });
});

/** Imports that satisfy any guest's declarations without running it. */
function stubImports(module: WebAssembly.Module): WebAssembly.Imports {
  const imports: Record<string, Record<string, () => number>> = {};
  for (const i of WebAssembly.Module.imports(module)) (imports[i.module] ??= {})[i.name] = () => 0;
  return imports;
}

describe.each([
  ["small", smallCases()],
  ["bench", benchCases()],
] as const)("%s cases, uninstrumented", (_size, cases) => {
  it.each(cases.map((c) => [c.name, c] as const))("%s returns the reference value and output", (_name, c) => {
    const r = run(c);
    expectMatches(c, r);
    expect(r.calls).toBe(1);
    expect(r.logs).toEqual([]);
    expectStackBufferUntouched(r);
  });

  const explicit = cases.filter((c) => c.style === "explicit");
  it.each(explicit.map((c) => [c.name, c] as const))(
    "%s stopped at every checkpoint and called again produces identical output",
    (_name, c) => {
      const r = run(c, alwaysStop);
      expectMatches(c, r);
      const height = c.args[1]!;
      // One checkpoint after every row but the last; each stop is resumed by a fresh call.
      expect(r.calls).toBe(height);
      expect(r.labels).toEqual(Array.from({ length: height - 1 }, (_, i) => i + 1));
      // Finished: resume_label is back to 0, so the next call starts a fresh picture.
      expect(new DataView(r.memory.buffer).getInt32(r.continuation + OFFSET_RESUME_LABEL, true)).toBe(0);
    },
  );

  it.each(explicit.map((c) => [c.name, c] as const))("%s stopped at every third checkpoint produces identical output", (_name, c) => {
    const r = run(c, (n) => (n % 3 === 2 ? 1 : 0));
    expectMatches(c, r);
    expect(r.calls).toBe(1 + Math.floor((c.args[1]! - 1) / 3));
  });
});

describe("explicit guest reuse", () => {
  it("mandelbrot called again after finishing renders the picture afresh", () => {
    const c = smallCases().find((x) => x.guest === "mandelbrot")!;
    const module = loadModule(c.wasmPath);
    const chunks: Uint8Array[] = [];
    let memory: WebAssembly.Memory | undefined;
    const imports = stubImports(module) as Record<string, Record<string, unknown>>;
    imports.ferry!.output_write = (src: number, len: number): void => {
      chunks.push(new Uint8Array(memory!.buffer, src, len).slice());
    };
    const instance = new WebAssembly.Instance(module, imports as WebAssembly.Imports);
    memory = instance.exports.memory as WebAssembly.Memory;
    const main = instance.exports.main as (w: number, h: number) => number;
    expect(main(c.args[0]!, c.args[1]!)).toBe(c.expected.value);
    expect(main(c.args[0]!, c.args[1]!)).toBe(c.expected.value);
    const twice = Buffer.concat([c.expected.output, c.expected.output]);
    expect(Buffer.concat(chunks).equals(twice)).toBe(true);
  });
});
