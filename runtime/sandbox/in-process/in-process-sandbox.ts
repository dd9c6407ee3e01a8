// The in-process sandbox: the guest runs in the host's own thread as a GuestInstance, protected by
// the memory cap, fuel slices and the import allow-list (cheap; for anonymous, pure-compute code).
// Nothing to start or stop: close has nothing to end.

import { GuestInstance } from "../../exec/guest-instance.js";
import type { InProcessPlacement } from "../../exec/placement.js";
import type { Sandbox } from "../sandbox.js";

export const inProcessSandbox: Sandbox<InProcessPlacement> = {
  async instantiate(module, config, placement) {
    return new GuestInstance(module, config, placement);
  },
  async restore(module, config, placement, snapshot) {
    const instance = new GuestInstance(module, config, placement);
    instance.applySnapshot(snapshot);
    return instance;
  },
  async close() {},
};
