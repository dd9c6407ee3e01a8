// Restoring an execution segment into a fresh instance: every part of the snapshot checked against
// this module and this instance's limits first (entry, arguments, globals, tables, page cap, the
// continuation buffer), then memory, globals, tables and references written in. The instance then
// holds the returned header and saved stack and is paused exactly where the source was.

import { EXPORTS } from "../code/export-names.js";
import { FerryError } from "../errors.js";
import type { SegmentPart } from "../host/index.js";
import { WASM_PAGE_BYTES } from "../limits.js";
import type { AsyncifyStack } from "./asyncify-stack.js";
import { ContState, type ContinuationHeader, decodeImage, FLAG_UNWOUND } from "./continuation.js";
import type { GuestGlobals } from "./guest-globals.js";
import type { GuestModule } from "./guest-module.js";
import { clearPagesOutside, type GlobalValue, type Snapshot } from "./snapshot.js";

/** What of a fresh instance a restore reads and writes. */
export interface RestoreTarget {
  module: GuestModule;
  memory: WebAssembly.Memory;
  /** The memory at guest addresses (past any reserved pages). */
  guestMemory(): Uint8Array;
  /** The most pages the guest's own memory may reach. */
  pageCap: number;
  /** The continuation buffer the saved stack will be rewound through. */
  stack: AsyncifyStack;
  globals: GuestGlobals;
  exports: Record<string, WebAssembly.ExportValue>;
}

/** Apply `s` to `target`; returns the paused run's header and its saved Asyncify frames (a copy). */
export function applySnapshot(target: RestoreTarget, s: Snapshot): { header: ContinuationHeader; stack: Uint8Array } {
  const { header, stack, capacity, globals } = checkSnapshot(target, s);
  const currentPages = target.guestMemory().byteLength / WASM_PAGE_BYTES;
  // Fresh memory holds only the data segments. The snapshot's elided pages must read as zero:
  // clear the few that are not — looking only at the data segments' pages when the module says which
  // (never reading, so never faulting in, the rest) — rather than writing the whole memory.
  clearPagesOutside(target.guestMemory(), s.memory, target.module.freshPages());
  if (s.memory.pageCount > currentPages) target.memory.grow(s.memory.pageCount - currentPages);
  const memory = target.guestMemory();
  for (const page of s.memory.pages) memory.set(page.bytes, page.index * WASM_PAGE_BYTES);

  for (const g of target.module.segment.globals) target.globals.write(g, globals.get(g.index)!);
  if (s.tables) target.globals.references().writeTables(s.tables);
  target.stack.rebaseRoom(capacity);
  // The passive data segments the guest had dropped (their flags are among the globals).
  (target.exports[EXPORTS.redrop] as (() => void) | undefined)?.();
  return { header: { ...header, state: ContState.Paused }, stack: stack.slice() };
}

function malformed(detail: string): never {
  throw new FerryError("snapshot_malformed", detail);
}

/** Everything a restore relies on, checked before anything is written. */
function checkSnapshot(target: RestoreTarget, s: Snapshot) {
  const segment = target.module.segment;
  const { header, stack, capacity } = decodeImage(s.continuation);
  if (header.state !== ContState.Paused) malformed(`continuation state is ${header.state}, expected paused`);
  const entry =
    target.module.entryByIndex(header.entry) ?? malformed(`entry export ${header.entry} is not a function export of this module`);
  if (header.args.length !== entry.params.length)
    malformed(`entry "${entry.name}" takes ${entry.params.length} arguments, the snapshot has ${header.args.length}`);
  if (header.flags & FLAG_UNWOUND && !segment.asyncify) {
    throw new FerryError("snapshot_pipeline_mismatch", "the snapshot holds an unwound stack but this engine does not asyncify");
  }
  const globals = new Map<number, GlobalValue>(s.globals.map((g) => [g.index, g]));
  if (globals.size !== segment.globals.length || segment.globals.some((g) => globals.get(g.index)?.type !== g.type)) {
    malformed("mutable globals do not match the module's");
  }
  target.globals.references().check(s, segment.globals);
  checkMemory(target, s);
  // The saved stack is rewound through the continuation buffer this instance will use (the guest's
  // own, or the one in the reserved pages): a longer one would be written past it.
  if (stack.byteLength > target.stack.capacity) {
    throw new FerryError(
      "snapshot_limit",
      `saved stack of ${stack.byteLength} bytes exceeds the ${target.stack.capacity}-byte continuation buffer`,
    );
  }
  return { header, stack, capacity, globals };
}

function checkMemory(target: RestoreTarget, s: Snapshot): void {
  const currentPages = target.guestMemory().byteLength / WASM_PAGE_BYTES;
  if (s.memory.pageCount < currentPages) malformed(`memory has ${s.memory.pageCount} pages, the module starts with ${currentPages}`);
  if (s.memory.pageCount > target.pageCap) {
    throw new FerryError("snapshot_limit", `memory of ${s.memory.pageCount} pages exceeds the cap of ${target.pageCap}`);
  }
  for (const page of s.memory.pages) {
    if (
      !Number.isSafeInteger(page.index) ||
      page.index < 0 ||
      page.index >= s.memory.pageCount ||
      page.bytes.byteLength !== WASM_PAGE_BYTES
    ) {
      malformed(`memory page ${page.index} is not a whole page inside the ${s.memory.pageCount}-page memory`);
    }
  }
}

/** The resource segment first: a snapshot naming resources this instance was not given is refused before anything is written. */
export function restoreSegmentParts(parts: ReadonlyMap<string, SegmentPart>, images: Snapshot["resources"]): void {
  for (const id of Object.keys(images ?? {}))
    if (!parts.has(id))
      throw new FerryError("snapshot_malformed", `the snapshot holds state of the "${id}" interface, which this module does not import`);
  for (const [id, part] of parts) if (images && Object.hasOwn(images, id)) part.restore(images[id]);
}
