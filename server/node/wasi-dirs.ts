// What a WASI job's directories are on this node, and who may have them.
//
// A `resource` directory is `<data-dir>/resources/<owner>/<resource>`, the same root the owner's
// `ferry.resource_*` calls use. The owner's capabilities must grant the access asked for to the
// directory *and everything in it*: a prefix grant whose prefix `P*` the directory's name followed by
// "/" starts with ("reports/*" → directory "reports" or "reports/2024"; "*" → any), with read for
// "r" and read and write for "rw". An exact grant ("reports:rw") names one resource, not a tree, so
// it is not enough. Anything else is 403 `forbidden` naming the capability that is missing; an
// anonymous caller has none (403). The directory is made when missing, under the owner's root,
// never through a symlink — by the resource worker, at the job's first file-system call.
//
// Disk I/O a guest causes never runs on the node's event loop: resource directories are served by
// the resource worker (OffThreadDirectory), which only an isolated guest can wait for, so a job with
// one runs isolated (409 `sandbox_not_allowed` otherwise). `scratch` directories are private
// in-memory trees, bounded so their contents fit the snapshot's resource section: they travel with
// the job by value, in its checkpoints and transfers, under SCRATCH_KEY.

import { join } from "node:path";
import {
  MemoryDirectory,
  OffThreadDirectory,
  parseCapability,
  WASI_MODULE,
  type AsyncDirectory,
  type Directory,
  type PlacementWasiOptions,
  type SandboxKind,
  type Snapshot,
} from "../../runtime/index.js";
import { resourceDirs } from "../job-wasi.js";
import { ServerError } from "../errors.js";
import type { ClientRecord, JobWasi, PinReference } from "../store/records.js";
import { quotasOf } from "./quotas.js";

/** Bytes all scratch directories of one job may hold together (their base64 must fit the 1 MiB resource section). */
export const MAX_SCRATCH_BYTES = 256 * 1024;
/** Files and directories all scratch directories of one job may hold together. */
export const MAX_SCRATCH_ENTRIES = 1024;
/** The snapshot's resource-section key the node carries a job's scratch trees under (taken out again before a restore). */
export const SCRATCH_KEY = "ferry-node/scratch";

type Grant = "r" | "rw";

/** Whether `capabilities` grant `access` to directory `dir` and everything in it (the rule above). */
export function grantsDirectory(capabilities: readonly string[], dir: string, access: Grant): boolean {
  const wanted = access === "r" ? ["read"] : ["read", "write"];
  return capabilities.some((text) => {
    let g: ReturnType<typeof parseCapability>;
    try {
      g = parseCapability(text);
    } catch {
      return false;
    }
    if (!wanted.every((a) => (g.access as readonly string[]).includes(a))) return false;
    return g.resource === "*" || (g.resource.endsWith("*") && `${dir}/`.startsWith(g.resource.slice(0, -1)));
  });
}

/**
 * Refuse (403) a resource directory the owner may not bind: anonymous, or no capability covering it.
 * A directory reached by global reference at another node than `here` is that node's to check, at every call.
 */
export function checkResourceGrants(owner: ClientRecord | null, wasi: JobWasi | null, jobId?: string, here?: string): void {
  const job = jobId ? `job ${jobId}: ` : "";
  for (const d of resourceDirs(wasi)) {
    // No owner, no resource directory — not even one reached at another node: a pin serves its
    // owner's job, and a transfer that lost the owner (no grant) must not hand it to anonymous code.
    if (!owner)
      throw new ServerError(
        "forbidden",
        `${job}wasi directory "${d.guest}" binds resource directory "${d.resource}": anonymous jobs may have scratch directories only`,
      );
    // Reached by global reference: the home node checks the owner's capabilities there.
    if (d.home && d.home.home !== here) continue;
    if (!grantsDirectory(owner.capabilities, d.resource, d.access))
      throw new ServerError(
        "forbidden",
        `${job}wasi directory "${d.guest}" needs the capability "${d.resource}/*:${d.access}" (or a wider prefix grant) for resource directory "${d.resource}"; client ${owner.id} has ${JSON.stringify(owner.capabilities)}`,
      );
  }
}

/** A new WASI job's directories against its caller, sandbox and module (before it is stored). */
export function checkWasiJob(caller: ClientRecord | null, sandbox: SandboxKind, wasi: JobWasi | undefined, wasm: WebAssembly.Module): void {
  if (!wasi) return;
  if (!WebAssembly.Module.imports(wasm).some((i) => i.module === WASI_MODULE))
    throw new ServerError(
      "bad_request",
      `wasi: the module does not import ${WASI_MODULE}, so it cannot use argv, an environment or directories`,
    );
  checkResourceGrants(caller, wasi);
  const hostDir = resourceDirs(wasi)[0];
  if (hostDir && sandbox === "in-process")
    throw new ServerError(
      "sandbox_not_allowed",
      `wasi directory "${hostDir.guest}" is a resource directory: its file I/O is served off the node's event loop, which only an isolated job can wait for; leave out "sandbox" or ask for "isolated" (in-process jobs may have scratch directories)`,
    );
}

/** `main`, or a WASI program's `_start` when it has no `main` (as `ferry run` picks). */
export function defaultEntry(m: { entries: readonly { name: string }[] }): string {
  const names = m.entries.map((e) => e.name);
  return !names.includes("main") && names.includes("_start") ? "_start" : "main";
}

/** A job's scratch trees, by guest path: made empty at its start, or carried by value in its snapshot. */
export type ScratchTrees = Map<string, MemoryDirectory>;

function scratchLimits(wasi: JobWasi): { maxBytes: number; maxEntries: number } {
  const n = Math.max(1, wasi.dirs.filter((d) => "scratch" in d).length);
  return { maxBytes: Math.floor(MAX_SCRATCH_BYTES / n), maxEntries: Math.floor(MAX_SCRATCH_ENTRIES / n) };
}

/** What binding a job's directories needs of its node. */
export interface DirectoryNode {
  dataDir: string;
  nodeId: string;
  /** A directory at another node, reached by global reference (ResourcePins.reference). */
  reference(ref: PinReference): Directory | AsyncDirectory;
}

/**
 * The WASI options of a job of `owner` in `sandbox`: its resource directories bound to the owner's
 * root here (checked again: a restart or a migration may find other grants) or reached at their
 * home node by global reference, its scratch trees.
 */
export function wasiOptionsOf(
  wasi: JobWasi | null,
  scratch: ScratchTrees,
  owner: ClientRecord | null,
  sandbox: SandboxKind,
  node: DirectoryNode,
): PlacementWasiOptions | undefined {
  if (!wasi) return undefined;
  checkResourceGrants(owner, wasi, undefined, node.nodeId);
  const dirs: Record<string, Directory | AsyncDirectory> = {};
  for (const d of wasi.dirs) {
    if ("resource" in d && d.home && d.home.home !== node.nodeId) {
      dirs[d.guest] = node.reference(d.home);
      continue;
    }
    if ("scratch" in d) {
      let tree = scratch.get(d.guest);
      if (!tree) scratch.set(d.guest, (tree = new MemoryDirectory(scratchLimits(wasi))));
      dirs[d.guest] = tree;
      continue;
    }
    if (sandbox !== "isolated")
      throw new ServerError("sandbox_not_allowed", `wasi directory "${d.guest}" is a resource directory: the job must run isolated`);
    // No file may outgrow the client's whole disk quota (the quota itself bounds `ferry.resource_*` files).
    dirs[d.guest] = new OffThreadDirectory(join(node.dataDir, "resources", owner!.id), d.resource, {
      readOnly: d.access === "r",
      create: true,
      maxFileBytes: quotasOf(owner!).maxResourceBytes,
    });
  }
  return { program: "guest", args: wasi.args, env: wasi.env, dirs };
}

/** `snapshot` with the job's scratch trees added to its resource section (a copy of the section; the rest shared). */
export function withScratch(snapshot: Snapshot, scratch: ScratchTrees): Snapshot {
  if (scratch.size === 0) return snapshot;
  const trees = Object.fromEntries([...scratch].map(([guest, tree]) => [guest, tree.snapshotTree()]));
  return { ...snapshot, resources: { ...(snapshot.resources ?? {}), [SCRATCH_KEY]: trees } };
}

/**
 * The scratch trees `snapshot` carries for `wasi`'s scratch directories (untrusted: read by
 * MemoryDirectory.fromTree under the job's limits), and the snapshot without them, as the runtime restores it.
 */
export function takeScratch(snapshot: Snapshot, wasi: JobWasi | null): { snapshot: Snapshot; scratch: ScratchTrees } {
  const scratch: ScratchTrees = new Map();
  const section = snapshot.resources;
  if (!section || !Object.hasOwn(section, SCRATCH_KEY)) return { snapshot, scratch };
  const { [SCRATCH_KEY]: carried, ...rest } = section;
  const trees = (carried ?? {}) as Record<string, unknown>;
  for (const d of wasi?.dirs ?? []) {
    if (!("scratch" in d) || !Object.hasOwn(trees, d.guest)) continue;
    scratch.set(d.guest, MemoryDirectory.fromTree(trees[d.guest] as Parameters<typeof MemoryDirectory.fromTree>[0], scratchLimits(wasi!)));
  }
  const stripped: Snapshot = { ...snapshot };
  if (Object.keys(rest).length > 0) stripped.resources = rest;
  else delete stripped.resources;
  return { snapshot: stripped, scratch };
}
