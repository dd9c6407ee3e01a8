// The `ferry` resource interface: capability-checked named resources, for authenticated code only
// (anonymous guests are pure computation; a module importing these compiles, but instantiating it
// as anonymous code is refused with `import_not_allowed`). The functions live in session.ts, the
// crossing from an isolated child in calls.ts (wire), child.ts and parent.ts (its two ends).

import { charged } from "../guest-call.js";
import { FERRY_MODULE, sig } from "../ferry/core.js";
import type { HostContext, HostFunctions, HostInterface } from "../interface.js";
import { RESOURCE_CALLS } from "./calls.js";
import { ResourceServer } from "./parent.js";

/** Each session function, charged for the crossing and followed by the deadline check. */
function implement({ io, resources }: HostContext): HostFunctions {
  const out: HostFunctions = {};
  for (const [name, fn] of Object.entries(resources ?? {})) out[name] = charged(io, fn);
  return out;
}

export const ferryResources: HostInterface = {
  id: "ferry-resources",
  module: FERRY_MODULE,
  trust: "authenticated",
  functions: {
    resource_open: { sig: sig(["i32", "i32", "i32"], ["i32"]) },
    resource_read: { sig: sig(["i32", "i32", "i32"], ["i32"]) },
    resource_write: { sig: sig(["i32", "i32", "i32"], ["i32"]) },
    resource_close: { sig: sig(["i32"], []) },
  },
  implement,
  remote: { calls: RESOURCE_CALLS, serve: (grant) => new ResourceServer(grant) },
};
