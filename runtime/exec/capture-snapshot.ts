// Capturing the execution segment of a paused instance: the continuation image (header and saved
// Asyncify frames), the mutable globals and tables, memory (copied, moved, recycled or as a delta
// against an earlier snapshot), input and output. Restoring it is apply-snapshot.ts.

import type { AsyncifyStack } from "./asyncify-stack.js";
import { ContState, type ContinuationHeader, encodeImage } from "./continuation.js";
import type { GuestGlobals } from "./guest-globals.js";
import type { GuestModule } from "./guest-module.js";
import { captureMemory, type Snapshot } from "./snapshot.js";
import { captureMemoryDelta } from "./snapshot-delta.js";

/** What of a paused instance a capture reads. */
export interface CaptureSource {
  module: GuestModule;
  header: ContinuationHeader;
  stack: AsyncifyStack;
  globals: GuestGlobals;
  /** The memory at guest addresses (past any reserved pages). */
  guestMemory(): Uint8Array;
  input: Uint8Array;
  output(): Uint8Array;
}

/** `move`: memory and output are taken as they are (the caller disposes the instance); else copied, or a delta `since`. */
export function captureSnapshot(
  src: CaptureSource,
  how: { move: boolean; since: Snapshot | undefined; recycle: Snapshot | undefined },
): Snapshot {
  const header: ContinuationHeader = { ...src.header, state: ContState.Paused, resumeLabel: src.stack.resumeLabel(src.header.resumeLabel) };
  const segment = src.module.segment;
  const snapshot: Snapshot = {
    codeHash: segment.codeHash,
    pipelineVersion: segment.pipelineVersion,
    continuation: encodeImage(header, src.stack.saved, src.stack.capacity),
    globals: segment.globals.map((g) => src.globals.read(g)),
    memory: how.since
      ? captureMemoryDelta(src.guestMemory(), how.since.memory)
      : captureMemory(src.guestMemory(), { copy: !how.move, recycle: how.recycle?.memory }),
    input: src.input,
    output: how.move ? src.output() : src.output().slice(),
  };
  if (segment.tables.length > 0) snapshot.tables = src.globals.references().readTables();
  return snapshot;
}
