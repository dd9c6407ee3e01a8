// Capturing the execution segment of a paused instance: the continuation image (header and saved
// Asyncify frames), the mutable globals and tables, memory (copied, moved, recycled or as a delta
// against an earlier snapshot), input and output. Restoring it is apply-snapshot.ts.

import type { AsyncifyStack } from "./asyncify-stack.js";
import { ContState, type ContinuationHeader, encodeImage } from "./continuation.js";
import type { GuestGlobals } from "./guest-globals.js";
import type { GuestModule } from "./guest-module.js";
import { captureMemory, type Snapshot } from "./snapshot.js";
import { captureMemoryDelta, captureMemoryDeltaInTurns } from "./snapshot-delta.js";
import type { MemoryImage } from "./snapshot.js";

/** Pages a delta scan compares per turn of the event loop (captureSnapshotInTurns): 4 MiB, well under a ms. */
const DELTA_PAGES_PER_TURN = 64;

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
  how: { move: boolean; since: Snapshot | undefined; recycle: Snapshot | undefined; memory?: MemoryImage },
): Snapshot {
  const header: ContinuationHeader = { ...src.header, state: ContState.Paused, resumeLabel: src.stack.resumeLabel(src.header.resumeLabel) };
  const segment = src.module.segment;
  const snapshot: Snapshot = {
    codeHash: segment.codeHash,
    pipelineVersion: segment.pipelineVersion,
    continuation: encodeImage(header, src.stack.saved, src.stack.capacity),
    globals: segment.globals.map((g) => src.globals.read(g)),
    memory: how.memory
      ? how.memory
      : how.since
        ? captureMemoryDelta(src.guestMemory(), how.since.memory)
        : captureMemory(src.guestMemory(), { copy: !how.move, recycle: how.recycle?.memory }),
    input: src.input,
    output: how.move ? src.output() : src.output().slice(),
  };
  if (segment.tables.length > 0) snapshot.tables = src.globals.references().readTables();
  return snapshot;
}

/**
 * captureSnapshot of a delta `since`, its memory scan in turns so the event loop is never held for
 * the whole memory (a periodic checkpoint of a large in-process job). `stillPaused` is asked after
 * the scan: the caller's instance refused to run meanwhile, but may have been disposed.
 */
export async function captureSnapshotInTurns(src: CaptureSource, since: Snapshot, stillPaused: () => void): Promise<Snapshot> {
  const memory = await captureMemoryDeltaInTurns(src.guestMemory(), since.memory, DELTA_PAGES_PER_TURN);
  stillPaused();
  return captureSnapshot(src, { move: false, since, recycle: undefined, memory });
}
