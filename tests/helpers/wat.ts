// Test fixtures as inline WAT, assembled with binaryen (already a runtime dependency).
import binaryen from "binaryen";

// Emit with the proposals Ferry supports; binaryen's "All" would encode imports in newer forms V8 20 lacks.
const F = binaryen.Features;
const SUPPORTED = F.MVP | F.MutableGlobals | F.SignExt | F.NontrappingFPToInt | F.BulkMemory | F.BulkMemoryOpt | F.SIMD128 | F.Multivalue;

export function wat(text: string, features: number = SUPPORTED): Uint8Array {
  const m = binaryen.parseText(text);
  try {
    m.setFeatures(features);
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

/** Run an instance to completion, pausing every `slice` fuel; returns the final result and pause count. */
export async function runToEnd(
  first: Promise<import("../../runtime/index.js").RunResult>,
  resume: () => Promise<import("../../runtime/index.js").RunResult>,
): Promise<{ result: import("../../runtime/index.js").RunResult; pauses: number }> {
  let result = await first;
  let pauses = 0;
  while (result.status === "paused") {
    pauses++;
    result = await resume();
  }
  return { result, pauses };
}
