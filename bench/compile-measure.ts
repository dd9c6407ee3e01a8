// Child process of bench/compile-limits.ts: instruments one module a few times and prints one JSON
// line with the CPU time of each run (this process does nothing else, so its CPU time is the
// compile's, unlike wall time on a shared machine), Binaryen's peak heap and the module's largest
// per-function stats. The compile caps are lifted so what lies beyond them can be measured; the
// parent kills this process at its own deadline.
//
//   node dist/bench/compile-measure.js '{"shape":"loops-with-calls","n":400,"reps":3}'
//   node dist/bench/compile-measure.js '{"file":"prog.wasm","reps":1}'

import { readFileSync } from "node:fs";

/** Binaryen grows its heap (a Wasm memory) through this; the largest size seen is its peak. */
let peakHeapBytes = 0;
const grow = WebAssembly.Memory.prototype.grow;
WebAssembly.Memory.prototype.grow = function (this: WebAssembly.Memory, delta: number): number {
  const before = grow.call(this, delta);
  peakHeapBytes = Math.max(peakHeapBytes, this.buffer.byteLength);
  return before;
};

const { instrument } = await import("../runtime/code/instrument.js");
const { loadBinaryen } = await import("../runtime/code/binaryen.js");
const { readModuleStructure } = await import("../runtime/code/wasm-reader.js");
const { readFunctionStats } = await import("../runtime/code/code-reader.js");
const { ALLOWED_IMPORTS } = await import("../runtime/host/index.js");
const { shape } = await import("./compile-shapes.js");

/** Every limit out of the way: what happens past the caps is what is being measured. */
const HUGE = 1_000_000_000;
const UNCAPPED_LIMITS = {
  maxModuleBytes: HUGE,
  maxFunctions: HUGE,
  maxImports: HUGE,
  maxExports: HUGE,
  maxGlobals: HUGE,
  maxTableElements: HUGE,
  maxDataBytes: HUGE,
  maxMemoryPages: 65_536,
  maxFunctionBodyBytes: HUGE,
  maxFunctionLocals: HUGE,
  maxFunctionLoops: HUGE,
  maxFunctionCalls: HUGE,
  maxNestingDepth: HUGE,
  maxLoopIfDepth: HUGE,
  maxBrTableTargets: HUGE,
};

export interface MeasureRequest {
  shape?: string;
  n?: number;
  file?: string;
  reps: number;
}

export interface MeasureResult {
  bytes: number;
  cpuMs: number[];
  wallMs: number[];
  peakHeapMiB: number;
  /** The largest value of each per-function stat, and the function count. */
  stats: Record<string, number>;
  error?: string;
}

const request = JSON.parse(process.argv[2] ?? "{}") as MeasureRequest;
const b = await loadBinaryen();
const bytes = request.file ? stubImports(new Uint8Array(readFileSync(request.file))) : shape(request.shape!).build(request.n!);

const s = readModuleStructure(bytes);
const stats: Record<string, number> = { functions: 0 };
readFunctionStats(bytes, s, (f) => {
  stats.functions!++;
  for (const [k, v] of Object.entries(f)) if (k !== "index") stats[k] = Math.max(stats[k] ?? 0, v);
});

// A first compile pays for V8 compiling Binaryen lazily: not the module's cost.
await instrument(shape("loops-with-calls").build(4), { metering: true, asyncify: true, limits: UNCAPPED_LIMITS });
peakHeapBytes = 0;

const result: MeasureResult = { bytes: bytes.byteLength, cpuMs: [], wallMs: [], peakHeapMiB: 0, stats };
for (let i = 0; i < request.reps; i++) {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  try {
    await instrument(bytes, { metering: true, asyncify: true, limits: UNCAPPED_LIMITS });
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
  }
  const used = process.cpuUsage(cpu);
  result.cpuMs.push((used.user + used.system) / 1000);
  result.wallMs.push(performance.now() - wall);
  if (result.error) break;
}
result.peakHeapMiB = peakHeapBytes / (1024 * 1024);
process.stdout.write(`${JSON.stringify(result)}\n`);

/**
 * A real program (a WASI build, say) imports functions Ferry does not provide. Only instrumenting is
 * measured here, so each such import becomes a defined function that traps: same code, allowed imports.
 */
function stubImports(input: Uint8Array): Uint8Array {
  const m = b.readBinary(input);
  try {
    m.setFeatures(
      b.Features.MVP |
        b.Features.MutableGlobals |
        b.Features.SignExt |
        b.Features.NontrappingFPToInt |
        b.Features.BulkMemory |
        b.Features.BulkMemoryOpt |
        b.Features.SIMD128 |
        b.Features.Multivalue,
    );
    const stubs: Array<{ name: string; params: number; results: number }> = [];
    for (let i = 0; i < m.getNumFunctions(); i++) {
      const info = b.getFunctionInfo(m.getFunctionByIndex(i));
      if (!info.module) continue;
      const allowed = ALLOWED_IMPORTS[info.module]?.[info.base ?? ""];
      if (!allowed) stubs.push({ name: info.name, params: info.params, results: info.results });
    }
    for (const stub of stubs) {
      m.removeFunction(stub.name);
      m.addFunction(stub.name, stub.params, stub.results, [], m.unreachable());
    }
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}
