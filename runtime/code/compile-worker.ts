// Entry point of a compile worker thread (compile-pool.ts): validates and instruments modules off
// the host's event loop, one at a time, with Binaryen's own heap capped. Binaryen's heap is a Wasm
// memory, which the worker's V8 heap limit (resourceLimits) does not count, so the cap is enforced
// here, where that memory grows.

import { parentPort, workerData } from "node:worker_threads";
import { FerryError, type ErrorCode } from "../errors.js";
import { loadBinaryen } from "./binaryen.js";
import { describeThrown, instrument } from "./instrument.js";
import type { CodeSegment, InstrumentOptions } from "./segment.js";

export interface CompileWorkerData {
  /** Largest Binaryen heap (its Wasm memory), bytes. */
  maxBinaryenHeapBytes: number;
  /** The worker thread's stack, MiB (Binaryen recurses over expression trees on it). */
  stackSizeMb: number;
}

export interface CompileRequest {
  id: number;
  bytes: Uint8Array;
  options: InstrumentOptions;
}

export type CompileWorkerMessage =
  | { type: "ready" }
  | { type: "done"; id: number; segment: CodeSegment; heapBytes: number }
  /** `spent`: the worker must not be used again (Binaryen aborted, or its heap hit the cap). */
  | { type: "refused"; id: number; code: ErrorCode; detail: string; heapBytes: number; spent: boolean };

// Binaryen prints validation complaints. The worker's own stdio is not piped to the host (a piped
// worker stream keeps the host process alive even when the worker is unref'd: a CLI run waited for
// the idle timeout), so its chatter is dropped here instead.
process.stdout.write = (() => true) as typeof process.stdout.write;
process.stderr.write = (() => true) as typeof process.stderr.write;

const port = parentPort;
if (!port) throw new Error("compile-worker.ts runs as a worker thread (compile-pool.ts starts it)");
const { maxBinaryenHeapBytes, stackSizeMb } = workerData as CompileWorkerData;

/** Size of the Wasm memory that last grew (Binaryen's: nothing else here instantiates Wasm). */
let heapBytes = 0;
/** Set when a grow past the cap was refused: Binaryen then aborts, and its state is gone. */
let refusedGrowTo: number | undefined;

// Emscripten grows its heap with Memory.prototype.grow and treats a throw as "out of memory", so
// refusing here makes Binaryen fail its allocation instead of the process running out.
const grow = WebAssembly.Memory.prototype.grow;
WebAssembly.Memory.prototype.grow = function (this: WebAssembly.Memory, deltaPages: number): number {
  const wanted = this.buffer.byteLength + deltaPages * 65_536;
  if (wanted > maxBinaryenHeapBytes) {
    refusedGrowTo = wanted;
    throw new RangeError(`Binaryen heap limit of ${maxBinaryenHeapBytes} bytes`);
  }
  const before = grow.call(this, deltaPages);
  heapBytes = this.buffer.byteLength;
  return before;
};

await loadBinaryen();
await warmUp();
port.postMessage({ type: "ready" } satisfies CompileWorkerMessage);

port.on("message", (request: CompileRequest) => {
  void compile(request).then((message) => {
    const transfer = message.type === "done" ? [message.segment.bytes.buffer as ArrayBuffer] : [];
    port.postMessage(message, transfer);
  });
});

async function compile(request: CompileRequest): Promise<CompileWorkerMessage> {
  try {
    const segment = await instrument(request.bytes, request.options);
    return { type: "done", id: request.id, segment, heapBytes };
  } catch (e) {
    if (refusedGrowTo !== undefined) {
      const mib = (n: number): string => (n / (1024 * 1024)).toFixed(1);
      const detail = `instrumenting needs more than the compile memory limit (Binaryen heap ${mib(maxBinaryenHeapBytes)} MiB; it asked for ${mib(refusedGrowTo)} MiB)`;
      return { type: "refused", id: request.id, code: "module_limit", detail, heapBytes, spent: true };
    }
    const error = e instanceof FerryError ? e : new FerryError("instrumentation_failed", describeThrown(e, await loadBinaryen()));
    if (error.code === "instrumentation_failed" && /Maximum call stack size exceeded/.test(error.detail ?? "")) {
      // Binaryen walks expression trees recursively: a tree deeper than its stack is refused as a limit.
      const detail = `expressions nested too deeply to instrument (the compile worker's stack limit of ${stackSizeMb} MiB)`;
      return { type: "refused", id: request.id, code: "module_limit", detail, heapBytes, spent: true };
    }
    // A failure inside Binaryen may leave its heap inconsistent: start a fresh worker for the next.
    return {
      type: "refused",
      id: request.id,
      code: error.code,
      detail: error.detail ?? "",
      heapBytes,
      spent: error.code === "instrumentation_failed",
    };
  }
}

/**
 * Run the whole pipeline once on a small module before taking work: V8 compiles Binaryen's code
 * lazily, and a first compile's seconds of that are not the module's to be charged for.
 */
async function warmUp(): Promise<void> {
  // (func $leaf (loop (br_if 0 (i32.const 0)))) (func (export "main") (loop (call $leaf)) (call $leaf))
  const bytes = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x00, 0x07, 0x08, 0x01,
    0x04, 0x6d, 0x61, 0x69, 0x6e, 0x00, 0x01, 0x0a, 0x15, 0x02, 0x09, 0x00, 0x03, 0x40, 0x41, 0x00, 0x0d, 0x00, 0x0b, 0x0b, 0x09, 0x00,
    0x03, 0x40, 0x10, 0x00, 0x0b, 0x10, 0x00, 0x0b,
  ]);
  const few = 100;
  const limits = {
    ...{
      maxModuleBytes: few,
      maxFunctions: few,
      maxImports: few,
      maxExports: few,
      maxGlobals: few,
      maxTableElements: few,
      maxDataBytes: few,
      maxMemoryPages: 1,
    },
    ...{
      maxFunctionBodyBytes: few,
      maxFunctionLocals: few,
      maxFunctionLoops: few,
      maxFunctionCalls: few,
      maxNestingDepth: few,
      maxLoopIfDepth: few,
      maxBrTableTargets: few,
    },
  };
  await instrument(bytes, { metering: true, asyncify: true, limits });
}
