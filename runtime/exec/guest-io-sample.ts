// Samples of the objects every in-process instance's host calls go through, built once and kept
// (shape-anchor.ts says why): an InstanceIo attached to a fuel slice, a stack, pause points and a
// memory, as GuestInstance's constructor attaches them, and the pause hooks around them. Imported
// for its effect by guest-instance.ts, so the samples exist before the first instance does.

import type { CodeSegment } from "../code/segment.js";
import { keepShape } from "../shape-anchor.js";
import { type AsyncifyExports, AsyncifyStack } from "./asyncify-stack.js";
import { freshHeader } from "./continuation.js";
import { FuelSlice } from "./fuel-slice.js";
import { GuestStreams, InstanceIo } from "./guest-io.js";
import { PauseHooks, PausePoints } from "./pause-points.js";

function sampleHostIo(): void {
  const memory = new WebAssembly.Memory({ initial: 0 });
  const stack = new AsyncifyStack({} as AsyncifyExports, memory, undefined, 0);
  const fuel = new FuelSlice(undefined);
  const header = freshHeader();
  const points = new PausePoints({ asyncify: false } as CodeSegment, stack, fuel, { header: () => header, status: () => "fresh" }, 1);
  const hooks = new PauseHooks();
  hooks.points = points;
  const io = new InstanceIo(new GuestStreams(new Uint8Array(0), 0, 0, undefined), 0);
  io.attach(fuel, stack, points.awaits, memory, 0);
  io.memory();
  keepShape(io);
  keepShape(hooks);
}

sampleHostIo();
