// GET /jobs/:id's view of a WASI job's resource segment while it is stopped (paused, or stored
// with a checkpoint and not running here): the descriptors its snapshot holds — each open
// directory and file by the preopen's guest path and the path inside it, its offset and rights —
// its virtual clock, whether it sleeps, and its scratch trees' sizes. Read from the runtime's own
// decoding of the checkpoint (checkpointSnapshot → the snapshot's `resources`), never re-parsed here.

import { chooseAction, type ResourceBinding, snapshotDecodeLimits, type Snapshot } from "../../runtime/index.js";
import { checkpointSnapshot } from "../migration/checkpoint-format.js";
import type { JobRecord, JobWasi } from "../store/records.js";
import type { Store } from "../store/store.js";
import type { JobView } from "./job-view.js";
import { SCRATCH_KEY } from "./wasi-dirs.js";
import { dirAction } from "../job-wasi.js";

export interface ResourceSegmentView {
  /** The checkpoint it was read from. */
  checkpoint: number;
  fds: Array<{ fd: number; kind: string; preopen: string | null; path: string; offset: number; rights: string }>;
  monotonicNs: string | null;
  sleeping: boolean;
  /** Scratch directories by guest path: entries (files and directories, the root counted) they hold. */
  scratch: Record<string, { entries: number }>;
}

interface WasiPart {
  fds?: Array<{ fd: number; kind: string; tree?: string; preopen?: string; path: string; offset: number; rights: string }>;
  monotonicNs?: string;
  sleepDeadlineNs?: string;
}

/** The summary of `resources` (a decoded snapshot's resource section). */
export function summarizeResources(resources: Snapshot["resources"], checkpoint: number): ResourceSegmentView {
  const wasi = (resources?.wasi ?? {}) as WasiPart;
  const scratch = (resources?.[SCRATCH_KEY] ?? {}) as Record<string, { entries?: unknown[] }>;
  return {
    checkpoint,
    fds: (wasi.fds ?? []).map((f) => ({
      fd: f.fd,
      kind: f.kind,
      preopen: f.tree ?? f.preopen ?? null,
      path: f.path,
      offset: f.offset,
      rights: f.rights,
    })),
    monotonicNs: wasi.monotonicNs ?? null,
    sleeping: wasi.sleepDeadlineNs !== undefined,
    scratch: Object.fromEntries(Object.entries(scratch).map(([guest, t]) => [guest, { entries: t.entries?.length ?? 0 }])),
  };
}

/** A stopped WASI job's resource segment from its newest checkpoint; null for other jobs (or none stored). */
export function resourceSegmentOf(store: Store, record: JobRecord, maxMemoryPages: number): ResourceSegmentView | null {
  if (record.wasi === null || record.state === "running" || record.state === "queued") return null;
  if (["done", "trapped", "failed", "cancelled", "migrated"].includes(record.state)) return null;
  const latest = store.checkpoints.latest(record.id);
  if (!latest) return null;
  const snapshot = checkpointSnapshot(store, record.id, snapshotDecodeLimits(maxMemoryPages));
  return snapshot ? summarizeResources(snapshot.resources, latest.seq) : null;
}

/**
 * What a WASI job holds and what a migration does with each, by the binding table
 * (runtime/resources/bindings.ts): its input and output travel by value in the snapshot, its log,
 * clocks and randomness are the target's, a resource directory is bound as the job asked (default:
 * this very directory, fastened → reached by global reference), a scratch tree a value that is copied.
 */
export function wasiBindings(wasi: JobWasi): ResourceBinding[] {
  const fixed = (
    resource: string,
    kind: ResourceBinding["kind"],
    binding: ResourceBinding["binding"],
    attachment: ResourceBinding["attachment"],
  ) => ({
    resource,
    kind,
    binding,
    attachment,
    action: chooseAction(binding, attachment),
  });
  return [
    fixed("stdin", "input", "value", "unattached"),
    fixed("stdout", "output", "value", "unattached"),
    fixed("stderr", "log", "type", "unattached"),
    fixed("clock", "clock", "type", "fixed"),
    fixed("random", "random", "type", "fixed"),
    ...wasi.dirs.map((d): ResourceBinding => {
      if (!("resource" in d)) return fixed(d.guest, "directory", "value", "unattached");
      const binding = d.binding ?? "identifier";
      const attachment = d.attachment ?? "fastened";
      return { resource: d.guest, kind: "directory", binding, attachment, action: dirAction(d), ...(d.home ? { home: d.home.home } : {}) };
    }),
  ];
}

/** GET /jobs/:id: the job's view, and a WASI job's bindings and resource segment (null while it runs, or with no checkpoint). */
export type JobDetail = JobView & { bindings?: ResourceBinding[]; resourceSegment?: ResourceSegmentView | null };

export function jobDetail(view: JobView, record: JobRecord, store: Store, maxMemoryPages: number): JobDetail {
  if (record.wasi === null) return view;
  return { ...view, bindings: wasiBindings(record.wasi), resourceSegment: resourceSegmentOf(store, record, maxMemoryPages) };
}
