// What the node decides about where and how a job runs — its own policy, on top of the runtime's:
// the trust class comes from the caller, anonymous jobs run in-process only with a small input, the
// fuel limit is within the client's quotas, and the instance options follow (slice deadline, output
// cap, capabilities and resources). The runtime's own rules (sandbox and trust kinds, the default
// sandbox of a trust class, timeouts, input and output sizes, which grants a trust class may hold)
// are not repeated here: the Engine applies them once (runtime/sandbox/placement.ts,
// normalizePlacement) to the options this file builds.

import { join } from "node:path";
import {
  defaultSandbox,
  GuestTrap,
  importedResourceCall,
  OffThreadFileResources,
  type ResourceProvider,
  type SandboxKind,
  type TrustClass,
} from "../../runtime/index.js";
import { ServerError } from "../errors.js";
import type { Quotas } from "../formats/grants.js";
import type { ClientRecord, JobWasi, Json } from "../store/records.js";
import type { LiveJob } from "./live-job.js";
import type { NodeLimits } from "./node-limits.js";
import { quotasOf } from "./quotas.js";
import { type DirectoryNode, wasiOptionsOf } from "./wasi-dirs.js";

/** Who is asking: an authenticated client, or nobody (anonymous). */
export type Caller = ClientRecord | null;

/** What a caller asks for when it starts a job (POST /jobs, server/http/job-request.ts). */
export interface StartJobRequest {
  codeHash: string;
  entry?: string;
  args?: Json[];
  input?: Uint8Array;
  fuelLimit?: number;
  sandbox?: SandboxKind;
  /** A WASI program's argv, environment and directories (wasi-dirs.ts decides who may have which). */
  wasi?: JobWasi;
}

/** Where a new job runs, and with how much fuel. */
export interface JobPlacement {
  trust: TrustClass;
  sandbox: SandboxKind;
  fuelLimit: number;
}

/**
 * What an authenticated in-process guest opens: nothing. New jobs that import resources are refused
 * in-process (refuseInProcessResources); this covers jobs that got here otherwise (a restart, a
 * migration), so no guest's file I/O ever runs on the node's event loop.
 */
const IN_PROCESS_RESOURCES: ResourceProvider = {
  open: (name) => {
    throw new GuestTrap("host_error", `"${name}": resources are served to isolated jobs only on this node`);
  },
};

/**
 * A new job's trust, sandbox and fuel limit: anonymous callers run in-process only, with a small
 * input; a fuel limit asked for must be within the quota (none asked: the quota).
 */
export function placeJob(
  caller: Caller,
  req: { sandbox?: SandboxKind | undefined; input?: Uint8Array | undefined; fuelLimit?: number | undefined },
  quotas: Readonly<Quotas>,
  limits: NodeLimits,
): JobPlacement {
  const trust: TrustClass = caller ? "authenticated" : "anonymous";
  const sandbox = req.sandbox ?? defaultSandbox(trust);
  if (!caller && sandbox !== "in-process")
    throw new ServerError(
      "forbidden",
      "anonymous jobs run in-process only (an isolated job needs a request signed by a registered client)",
    );
  if (!caller && req.input && req.input.byteLength > limits.maxAnonymousInputBytes) {
    throw new ServerError(
      "payload_too_large",
      `input is ${req.input.byteLength} bytes; anonymous jobs take at most ${limits.maxAnonymousInputBytes}`,
    );
  }
  if (req.fuelLimit !== undefined && req.fuelLimit > quotas.maxFuelPerJob) {
    throw new ServerError("quota_exceeded", `fuelLimit ${req.fuelLimit} exceeds the quota of ${quotas.maxFuelPerJob}`);
  }
  return { trust, sandbox, fuelLimit: req.fuelLimit ?? quotas.maxFuelPerJob };
}

/**
 * Resource calls do disk I/O; on this node they are served off the event loop, which only an
 * isolated guest can wait for (an in-process guest's call must answer inside its slice).
 */
export function refuseInProcessResources(caller: Caller, sandbox: SandboxKind, wasm: WebAssembly.Module): void {
  const resourceCall = caller && sandbox === "in-process" ? importedResourceCall(wasm) : undefined;
  if (resourceCall) {
    throw new ServerError(
      "sandbox_not_allowed",
      `the module imports "${resourceCall}": jobs that use resources run isolated on this node (their file I/O is kept off the node's event loop); leave out "sandbox" or ask for "isolated"`,
    );
  }
}

/** The instance options of a job of `client` (null: anonymous) in `sandbox` on this node. */
export function instanceOptions(
  job: LiveJob,
  sandbox: SandboxKind,
  input: Uint8Array | undefined,
  client: Caller,
  node: DirectoryNode & { limits: NodeLimits },
) {
  return {
    sandbox,
    trust: client ? ("authenticated" as const) : ("anonymous" as const),
    input,
    onLog: (line: string) => {
      // Output written before the line is announced before it, so a follower sees them in order.
      if (job.hasListeners) job.flushOutput();
      job.emit({ type: "log", line });
    },
    // A WASI job's directories: its owner's, rebound here by name, and its scratch trees.
    wasi: wasiOptionsOf(job.record.wasi, job.scratch, client, sandbox, node),
    // An isolated slice has a deadline: a guest that never gives control back loses its process.
    ...(sandbox === "isolated" ? { timeoutMs: node.limits.isolatedSliceTimeoutMs } : {}),
    // Anonymous output is kept (for the TTL) on the node's disk: a small cap each.
    ...(client ? {} : { maxOutputBytes: node.limits.maxAnonymousOutputBytes }),
    // Authenticated code binds its client's files: capabilities are relative to the client's own root.
    // Only isolated guests reach them: the provider runs off the event loop and answers later.
    ...(client
      ? { capabilities: client.capabilities, resources: sandbox === "isolated" ? resourcesOf(client, node.dataDir) : IN_PROCESS_RESOURCES }
      : {}),
  };
}

/** The client's own files: a root of its own under the data dir, bounded by its disk quota, served by the resource worker. */
function resourcesOf(client: ClientRecord, dataDir: string): OffThreadFileResources {
  const quotas = quotasOf(client);
  return new OffThreadFileResources(join(dataDir, "resources", client.id), {
    maxTotalBytes: quotas.maxResourceBytes,
    maxEntries: quotas.maxResourceEntries,
  });
}
