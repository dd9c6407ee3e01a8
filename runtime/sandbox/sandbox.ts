// What a sandbox does, whichever it is: make a fresh instance of a module, restore a snapshot into
// one, and close. The engine normalises the caller's options into a Placement (placement.ts), picks
// the sandbox the placement names, and hands it the placement, which the sandbox trusts as it is.

import type { GuestModule } from "../exec/guest-module.js";
import type { Instance, InstanceConfig } from "../exec/instance-api.js";
import type { Snapshot } from "../exec/snapshot.js";
import type { Placement } from "./placement.js";

export interface Sandbox<P extends Placement> {
  instantiate(module: GuestModule, config: InstanceConfig, placement: P): Promise<Instance>;
  /** A fresh instance with `snapshot` applied: paused where its source was. */
  restore(module: GuestModule, config: InstanceConfig, placement: P, snapshot: Snapshot): Promise<Instance>;
  /** End every instance the sandbox still hosts (isolated: kill its children). */
  close(): Promise<void>;
}
