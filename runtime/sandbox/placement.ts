// Placement, decided once. The Engine turns what a caller asked for (InstantiateOptions) into a fully
// specified Placement with one set of rules — trust, the sandbox (by default the one the trust
// class calls for), the isolated deadline, the input's size, the output and log caps, and the
// capabilities and resources the trust class allows — every refusal an `invalid_option` naming the
// option. Sandboxes (sandbox.ts: in-process, the isolated pool) take the result and trust it. The
// node asks the same function (exported from runtime/index.ts) instead of deciding again.

import { FerryError } from "../errors.js";
import type { InProcessPlacement, PlacementBase } from "../exec/placement.js";
import type { WasiConfig } from "../host/index.js";
import type { AsyncDirectory, Directory } from "../resources/directory.js";
import {
  type InstanceOptions,
  type WasiOptions,
  SANDBOX_KINDS,
  TRUST_CLASSES,
  defaultSandbox,
  type SandboxKind,
} from "../exec/instance-api.js";
import { DEFAULT_AWAIT_DEADLINE_MS, DEFAULT_MAX_INPUT_BYTES, DEFAULT_MAX_LOG_BYTES, DEFAULT_MAX_OUTPUT_BYTES } from "../limits.js";
import { CapabilitySet } from "../resources/capabilities.js";
import { OffThreadFileResources } from "../resources/off-thread-resources.js";
import type { ResourceProvider } from "../resources/provider.js";
import type { AsyncResourceProvider } from "../resources/provider.js";
import { checkWasi } from "./wasi-placement.js";

export type { InProcessPlacement, PlacementBase } from "../exec/placement.js";

/** Where and as whom an instance runs, as a caller asks for it (every field optional), on top of its I/O options. */
export interface PlacementOptions extends Omit<InstanceOptions, "resources" | "wasi"> {
  /**
   * A WASI program's arguments, environment and directories (see WasiOptions). A directory may also
   * be an AsyncDirectory (OffThreadDirectory: served off the event loop), whose calls are awaited.
   */
  wasi?: PlacementWasiOptions;
  /** Default: from `trust` (anonymous → in-process, authenticated → isolated). */
  sandbox?: SandboxKind;
  /** Isolated only: wall-clock deadline per run/resume call in ms (up to 2^31−1); past it the process is killed. */
  timeoutMs?: number;
  /**
   * Authenticated code only: where its resources live. In-process, a synchronous `ResourceProvider`
   * (its calls run on the caller's thread, inside the guest's slice); isolated, also an
   * `AsyncResourceProvider` such as `OffThreadFileResources` (the guest waits in its own process).
   */
  resources?: ResourceProvider | AsyncResourceProvider;
}

/** WasiOptions whose directories may also answer later (an AsyncDirectory: each call awaited, in either sandbox). */
export interface PlacementWasiOptions extends Omit<WasiOptions, "dirs"> {
  dirs?: Readonly<Record<string, Directory | AsyncDirectory>>;
}

/** A guest in a child process (or worker) of the isolated pool. */
export interface IsolatedPlacement extends Omit<PlacementBase, "wasi"> {
  sandbox: "isolated";
  /** Wall-clock deadline per run/resume call, ms; past it the child is killed (trapped `deadline_exceeded`). Undefined: none. */
  timeoutMs: number | undefined;
  /** Authenticated code: where its resources live; its calls may answer later. Anonymous: undefined. */
  resources: ResourceProvider | AsyncResourceProvider | undefined;
  /** Its directories are held by the parent, which awaits every call: they may answer later. */
  wasi: WasiConfig<Directory | AsyncDirectory>;
}

export type Placement = InProcessPlacement | IsolatedPlacement;

/** The longest `timeoutMs`: setTimeout's range (beyond 2^31−1 ms it would fire at once). */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** Decide where and as whom an instance runs; throws `invalid_option` naming the first bad option. */
export function normalizePlacement(options: PlacementOptions & { sandbox: "isolated" }): IsolatedPlacement;
export function normalizePlacement(options: PlacementOptions & { sandbox: "in-process" }): InProcessPlacement;
export function normalizePlacement(options?: PlacementOptions): Placement;
export function normalizePlacement(options: PlacementOptions = {}): Placement {
  const trust = options.trust ?? "anonymous";
  if (!TRUST_CLASSES.includes(trust)) throw invalid(`\`trust\` must be ${alternatives(TRUST_CLASSES)}, got ${JSON.stringify(trust)}`);
  const sandbox = options.sandbox ?? defaultSandbox(trust);
  if (!SANDBOX_KINDS.includes(sandbox)) throw invalid(`\`sandbox\` must be ${alternatives(SANDBOX_KINDS)}, got ${JSON.stringify(sandbox)}`);
  const timeoutMs = checkTimeout(options.timeoutMs, sandbox);
  const input = checkInput(options.input);
  const maxOutputBytes = byteCap("maxOutputBytes", options.maxOutputBytes, DEFAULT_MAX_OUTPUT_BYTES);
  const maxLogBytes = byteCap("maxLogBytes", options.maxLogBytes, DEFAULT_MAX_LOG_BYTES);
  const onLog = checkOnLog(options.onLog);
  const { capabilities: caps, resources } = options;
  if (trust === "anonymous" && (caps?.length || resources)) {
    throw invalid("`capabilities` and `resources` require trust: 'authenticated' (anonymous code is pure computation)");
  }
  // Parsed here, once: this set is the one every resource call is checked against.
  const capabilities = trust === "authenticated" ? checkGrants(caps, resources) : undefined;
  const awaitDeadlineMs = checkAwaitDeadline(options.awaitDeadlineMs);
  const wasi = checkWasi(options.wasi, trust);
  // Written out whole (no spreads): this runs on every instantiate.
  if (sandbox === "isolated")
    return { sandbox, trust, timeoutMs, input, maxOutputBytes, maxLogBytes, onLog, capabilities, resources, wasi, awaitDeadlineMs };
  const provider = inProcessProvider(resources);
  return { sandbox, trust, input, maxOutputBytes, maxLogBytes, onLog, capabilities, resources: provider, wasi, awaitDeadlineMs };
}

/** Authenticated code's grants and provider, checked; the grants parsed into the set its calls are checked against. */
function checkGrants(capabilities: PlacementOptions["capabilities"], resources: PlacementOptions["resources"]): CapabilitySet {
  if (capabilities !== undefined && !Array.isArray(capabilities)) throw invalid('`capabilities` must be a list like ["reports/*:rw"]');
  if (resources !== undefined && (resources === null || typeof resources.open !== "function")) {
    throw invalid("`resources` must be a ResourceProvider (an object with `open(name, access)`)");
  }
  return new CapabilitySet(capabilities ?? []);
}

/** An in-process guest's provider answers inside its slice: an asynchronous one cannot. */
function inProcessProvider(resources: PlacementOptions["resources"]): ResourceProvider | undefined {
  if (resources instanceof OffThreadFileResources) {
    throw invalid(
      "`resources` answers asynchronously (OffThreadFileResources): an in-process guest needs a synchronous provider such as FileResources; run it with sandbox: 'isolated'",
    );
  }
  // Anything else given for an in-process guest must be a synchronous provider (the type says so for the embedder).
  return resources as ResourceProvider | undefined;
}

function invalid(message: string): FerryError {
  return new FerryError("invalid_option", message);
}

function alternatives(values: readonly string[]): string {
  return values.map((v) => `"${v}"`).join(" or ");
}

function checkTimeout(t: number | undefined, sandbox: SandboxKind): number | undefined {
  if (t === undefined) return undefined;
  if (sandbox !== "isolated") {
    throw invalid(
      "`timeoutMs` requires sandbox: 'isolated' (in-process guests are bounded by fuel slices; only a process can be killed mid-slice)",
    );
  }
  if (typeof t !== "number" || !Number.isFinite(t) || t <= 0 || t > MAX_TIMEOUT_MS) {
    throw invalid(`\`timeoutMs\` must be a positive number of milliseconds up to ${MAX_TIMEOUT_MS}, got ${String(t)}`);
  }
  return t;
}

function checkAwaitDeadline(ms: number | undefined): number {
  if (ms === undefined) return DEFAULT_AWAIT_DEADLINE_MS;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0 || ms > MAX_TIMEOUT_MS) {
    throw invalid(`\`awaitDeadlineMs\` must be a positive number of milliseconds up to ${MAX_TIMEOUT_MS}, got ${String(ms)}`);
  }
  return ms;
}

/** The input of a guest given none: empty, shared (nothing can be written into zero bytes). */
const NO_INPUT = new Uint8Array(0);

function checkInput(input: Uint8Array | undefined): Uint8Array {
  if (input === undefined) return NO_INPUT;
  if (!(input instanceof Uint8Array)) throw invalid("`input` must be a Uint8Array");
  if (input.byteLength > DEFAULT_MAX_INPUT_BYTES)
    throw invalid(`\`input\` is ${input.byteLength} bytes, the limit is ${DEFAULT_MAX_INPUT_BYTES}`);
  return input;
}

function byteCap(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw invalid(`\`${name}\` must be a whole number of bytes, got ${String(value)}`);
  return value;
}

function checkOnLog(onLog: ((line: string) => void) | undefined): ((line: string) => void) | undefined {
  if (onLog !== undefined && typeof onLog !== "function") throw invalid("`onLog` must be a function");
  return onLog;
}
