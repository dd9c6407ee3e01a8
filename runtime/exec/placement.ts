// A placement: where and as whom an instance runs, fully decided. The Engine normalises what a
// caller asked for into one (sandbox/placement.ts, one set of rules, `invalid_option` naming the
// option) and the sandboxes take it as it is: nothing here is optional, defaulted or re-checked
// downstream. The in-process part lives here, with the instance that consumes it; the isolated
// sandbox adds its deadline and asynchronous providers (sandbox/placement.ts).

import type { WasiConfig } from "../host/index.js";
import type { AsyncDirectory, Directory } from "../resources/directory.js";
import type { CapabilitySet } from "../resources/capabilities.js";
import type { ResourceProvider } from "../resources/provider.js";
import type { TrustClass } from "./instance-api.js";

/** What every placement decides, whichever sandbox. */
export interface PlacementBase {
  trust: TrustClass;
  /** Bytes the guest reads with `ferry.input_read` (at most DEFAULT_MAX_INPUT_BYTES). */
  input: Uint8Array;
  maxOutputBytes: number;
  maxLogBytes: number;
  onLog: ((line: string) => void) | undefined;
  /** Authenticated code: what it may bind, parsed (empty when none was given). Anonymous: undefined. */
  capabilities: CapabilitySet | undefined;
  /** What a WASI program is given: argv, environment, preopened directories (empty when none). */
  wasi: WasiConfig<Directory | AsyncDirectory>;
  /** Longest wait for one awaited host call, ms (DEFAULT_AWAIT_DEADLINE_MS unless given). */
  awaitDeadlineMs: number;
}

/** A guest in the host's own thread. */
export interface InProcessPlacement extends PlacementBase {
  sandbox: "in-process";
  /** Authenticated code: where its resources live, answering synchronously (none: every open is refused). Anonymous: undefined. */
  resources: ResourceProvider | undefined;
}
