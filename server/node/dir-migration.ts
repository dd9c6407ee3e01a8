// What a job's resource directories do when it migrates (docs/resource-segment.md, "Migration
// actions"). By the binding table (job-wasi.ts dirAction) each one
//  - stays here and is reached from the target by global reference: a pin made for that one peer
//    before the PREPARE (released if the transfer does not happen), named in the WASI configuration
//    the target gets;
//  - travels by value, moved or copied: its tree captured when the job stops (and earlier, in the
//    pre-copy rounds, so the stop carries only what changed), laid down at the target before the
//    job first runs there; a moved one is taken out of here once the job is the target's;
//  - or is rebound: the owner's directory of that name at the target.
// And at the receiving end: the trees a job brought are laid down, a reference to this very node is
// turned back into the directory itself (the job came home), and when a job ends its pins at other
// nodes are released.

import { join } from "node:path";
import {
  applyTree,
  captureTree,
  decodeTreeBundle,
  encodeTreeBundle,
  OffThreadDirectory,
  removeTree,
  TreeDigests,
  type TreeLimits,
  type TreeManifest,
} from "../../runtime/index.js";
import { ServerError } from "../errors.js";
import { dirAction, resourceDirs, travellingDirs } from "../job-wasi.js";
import type { OutgoingResources } from "../migration/host.js";
import type { Quotas } from "../formats/grants.js";
import type { JobRecord, JobResourceDir, JobWasi, JobWasiDir, PinReference } from "../store/records.js";
import type { Store } from "../store/store.js";
import type { ResourcePins } from "./resource-pins.js";

export interface DirMigrationDeps {
  store: Store;
  pins: ResourcePins;
  nodeId: string;
  dataDir: string;
  /** The quotas a job of `owner` runs under here (anonymous: none for resources). */
  quotasOf(owner: string | null): Readonly<Quotas>;
}

/** What a transfer did to references, to undo when it is abandoned: pins made here, hand-overs asked elsewhere. */
interface References {
  made: string[];
  handed: Array<{ from: PinReference; to: PinReference }>;
}

const NOTHING: OutgoingResources = {
  wasi: null,
  capture: async () => undefined,
  abandon: async () => undefined,
  decided: async () => undefined,
};

export class DirMigration {
  constructor(private readonly deps: DirMigrationDeps) {}

  /** A tree bundle for a job of `owner` here: its resource quota, in bytes and entries. */
  treeLimits(owner: string | null): Required<TreeLimits> {
    const quotas = this.deps.quotasOf(owner);
    return { maxBytes: quotas.maxResourceBytes, maxEntries: quotas.maxResourceEntries };
  }

  /** The owner's directory `d` here, served off the event loop (made when missing). */
  private tree(owner: string, d: JobResourceDir): OffThreadDirectory {
    const root = join(this.deps.dataDir, "resources", owner);
    return new OffThreadDirectory(root, d.resource, { create: true, maxFileBytes: this.treeLimits(owner).maxBytes });
  }

  /**
   * The job's directories in a transfer to `peer` (see OutgoingResources): pins made now for those
   * that stay here, and hand-overs asked of the home nodes of those the job reaches from here.
   */
  async outgoing(record: JobRecord, peer: string): Promise<OutgoingResources> {
    if (!record.wasi || record.owner === null || resourceDirs(record.wasi).length === 0) return { ...NOTHING, wasi: record.wasi };
    const owner = record.owner;
    const refs: References = { made: [], handed: [] };
    const undo = async () => {
      for (const pin of refs.made.splice(0)) this.deps.pins.release(pin);
      for (const h of refs.handed.splice(0)) await this.deps.pins.cancelHandoverAt(h.from, h.to.pin).catch(() => undefined);
    };
    const dirs: JobWasiDir[] = [];
    try {
      for (const d of record.wasi.dirs) dirs.push("resource" in d ? await this.referenced(record, d, peer, refs) : d);
    } catch (e) {
      await undo();
      throw e;
    }
    const wasi: JobWasi = { ...record.wasi, dirs };
    const travelling = travellingDirs(record.wasi);
    let captured = new Map<string, TreeManifest>();
    // What the pre-copy rounds read, so the capture at the stop reads only what changed since.
    const digests = new Map(travelling.map((d) => [d.guest, new TreeDigests()]));
    return {
      wasi,
      capture: async (sent) => {
        if (travelling.length === 0) return undefined;
        const limits = this.treeLimits(owner);
        const trees = new Map<string, TreeManifest>();
        const blobs = new Map<string, Uint8Array>();
        for (const d of travelling) {
          const got = await captureTree(this.tree(owner, d), (sha) => sent.has(sha) || blobs.has(sha), limits, digests.get(d.guest));
          trees.set(d.guest, got.manifest);
          for (const [sha, bytes] of got.blobs) blobs.set(sha, bytes);
        }
        captured = trees;
        return { bundle: encodeTreeBundle({ trees, blobs }), digests: [...blobs.keys()] };
      },
      abandon: undo,
      decided: async () => {
        refs.made.length = 0; // the pins now serve the job at `peer`
        // This node is done with the pins it held: the job reaches its directories from `peer` now.
        for (const h of refs.handed.splice(0)) void this.deps.pins.releaseAt(h.from).catch(() => undefined);
        for (const d of travelling)
          if (dirAction(d) === "move" && captured.has(d.guest)) await removeTree(this.tree(owner, d), captured.get(d.guest)!);
      },
    };
  }

  /**
   * `d` as the target gets it: with a pin made for `peer` when it stays here by global reference; a
   * reference to a third node handed over to `peer` (that node makes a pin for it); a reference to
   * `peer` itself as it is (the job goes home and uses the directory there again).
   */
  private async referenced(record: JobRecord, d: JobResourceDir, peer: string, refs: References): Promise<JobResourceDir> {
    if (d.home) {
      if (d.home.home === peer) return d;
      let to: PinReference;
      try {
        to = await this.deps.pins.handoverAt(d.home, peer);
      } catch (e) {
        throw new ServerError(
          "conflict",
          `job ${record.id}: wasi directory "${d.guest}" is reached at node ${d.home.home}, which did not hand it over to ${peer}: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      refs.handed.push({ from: d.home, to });
      return { ...d, home: to };
    }
    if (dirAction(d) !== "global-reference") return d;
    const pin = this.deps.pins.create({ jobId: record.id, owner: record.owner!, dir: d.resource, access: d.access, peer });
    refs.made.push(pin.id);
    return { ...d, home: { home: this.deps.nodeId, pin: pin.id, access: d.access } };
  }

  /**
   * Before a job that arrived first runs here: the trees it brought laid down in its owner's
   * directories (then their blob goes), and a reference to this node turned back into the directory
   * itself, its pin released. Safe to repeat after a crash. Returns the job's record as it is now.
   */
  async arrived(record: JobRecord): Promise<JobRecord> {
    if (record.treesHash !== null && record.owner !== null) {
      // The store checks the bundle's bytes against its hash as it reads them: its blobs are not hashed again.
      const bundle = decodeTreeBundle(this.deps.store.blobs.read(record.treesHash), this.treeLimits(record.owner), { verified: true });
      for (const d of travellingDirs(record.wasi)) {
        const manifest = bundle.trees.get(d.guest);
        if (manifest) await applyTree(this.tree(record.owner, d), manifest, (sha) => bundle.blobs.get(sha), { verified: true });
      }
      record = this.deps.store.jobs.update(record.id, { treesHash: null }, { expectEpoch: record.epoch });
    }
    const home = resourceDirs(record.wasi).filter((d) => d.home?.home === this.deps.nodeId);
    if (home.length === 0 || !record.wasi) return record;
    const dirs = record.wasi.dirs.map((d) => {
      if (!("resource" in d) || d.home?.home !== this.deps.nodeId) return d;
      const { home: _, ...local } = d;
      return local;
    });
    record = this.deps.store.jobs.update(record.id, { wasi: { ...record.wasi, dirs } }, { expectEpoch: record.epoch });
    for (const d of home) this.deps.pins.release(d.home!.pin);
    return record;
  }
}

/**
 * After a restart (once transfers are settled): the pins this node holds for jobs that are here
 * after all — a transfer that was never decided, a job that came back — or gone, are released. A
 * pin stays while its job is elsewhere (migrated) or arriving (prepared).
 */
export function releaseStalePins(store: Store, pins: ResourcePins, here: string): number {
  let released = 0;
  for (const pin of pins.list()) {
    const job = store.jobs.get(pin.jobId);
    const stillNeeded = job !== undefined && (job.state === "migrated" || job.state === "prepared" || job.node !== here);
    if (!stillNeeded && pins.release(pin.id)) released++;
  }
  return released;
}

/** A job that ended on node `here`: the pins it held at other nodes are released (best effort: a pin outlives a home that cannot be reached). */
export function releaseReferences(record: JobRecord, pins: ResourcePins, here: string): void {
  for (const d of resourceDirs(record.wasi)) if (d.home && d.home.home !== here) void pins.releaseAt(d.home).catch(() => undefined);
}
