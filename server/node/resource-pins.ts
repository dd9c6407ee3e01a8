// Pins: the home node's half of a global reference (docs/resource-segment.md, "Global references").
// A job that runs elsewhere keeps using a directory of its owner's here; a pin names that directory
// for that job and the one peer node it now runs on, survives restarts (store.pins), and serves the
// peer's calls (POST /peer/resources/:pin) with a WasiFsServer of its own (pin-server.ts) — so every
// path is confined to the pin's directory and normalized, every handle must be one the pin opened
// since this node started (never a number used before), at most MAX_WASI_FDS are open, no transfer
// exceeds 1 MiB: the checks an isolated child's calls get.
//
// Each call, in order: the pin exists (404), its peer signed it (403), the owner still exists, is
// enabled, and its capabilities still grant the directory what the call needs (403, and the call
// is not run), the body is one file-system request (400), and its sequence number is the next one
// (run), or the last one again with the same body (its answer again: a retry after a lost answer
// runs nothing twice), or anything else (409 out_of_order). The next number is claimed in the store
// before the call runs, so after a crash a retried call is refused rather than run again.

import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  type AsyncDirectory,
  type Directory,
  fsErrorAnswer,
  FsError,
  type FsRequest,
  HostDirectory,
  normalizeTreePath,
  OffThreadDirectory,
  type RemoteAnswer,
} from "../../runtime/index.js";
import { ServerError } from "../errors.js";
import type { NodeIdentity } from "../auth/index.js";
import { PeerDirectory } from "../peers/peer-directory.js";
import { PinChannel, type PinChannelOptions } from "../peers/pin-channel.js";
import { peerRequest } from "../peers/peer-link.js";
import { decodeResourceCall, encodeResourceAnswer, type GlobalReference } from "../peers/resource-wire.js";
import type { PinAccess, PinRecord } from "../store/pins.js";
import { PinServer } from "./pin-server.js";
import { quotasOf } from "./quotas.js";
import { grantsDirectory } from "./wasi-dirs.js";
import type { Store } from "../store/store.js";

export type { PinAccess, PinRecord } from "../store/pins.js";

/** What the migration code asks to pin: a job's directory under its owner's resource root, for one peer. */
export interface NewPin {
  jobId: string;
  owner: string;
  /** Relative to `<data-dir>/resources/<owner>/`, normalized ("reports" or "reports/2024"), not empty. */
  dir: string;
  access: PinAccess;
  /** The peer node the job runs on: the only signer whose calls the pin answers. */
  peer: string;
}

/** A hand-over's request to the home node waits this long for its answer (ms); the move fails otherwise. */
const HANDOVER_TIMEOUT_MS = 10_000;

/** How long a pin keeps its last call's answer for a retry, ms: well past a peer's deadline (DEFAULT_PEER_CALL_DEADLINE_MS). */
export const PIN_ANSWER_KEPT_MS = 60_000;

/** What serves a pin's directory: a real directory, walked without following symlinks (the default). */
/** The tree a pin serves: `dir` under the owner's `root`, each file at most `maxFileBytes`. */
export type PinTreeFactory = (
  root: string,
  dir: string,
  options: { readOnly: boolean; maxFileBytes: number },
) => Directory | AsyncDirectory;

/** The last call a pin ran, and its answer (pending while it runs): what a retry of it gets. */
interface LastCall {
  seq: number;
  digest: string;
  answer: Promise<Uint8Array>;
}

/** Calls that change the tree: they need the owner's write grant (a read-only pin's tree refuses them itself, EROFS). */
function writes(request: FsRequest): boolean {
  switch (request.op) {
    case "mkdir":
    case "rmdir":
    case "unlink":
    case "rename":
    case "setTimes":
    case "fileWrite":
    case "fileSetSize":
    case "fileSetTimes":
      return true;
    case "openFile":
      return request.args.slice(1).some((flag) => flag === true);
    default:
      return false;
  }
}

export class ResourcePins {
  /** Each pin's server (its open handles), made at its first call since the node started. */
  private readonly servers = new Map<string, PinServer>();
  private readonly lastCalls = new Map<string, LastCall>();
  private readonly openTree: PinTreeFactory;
  /** The node's deadline for a call to another node's pin (NodeLimits.peerCallDeadlineMs); the channel's default when unset. */
  private readonly peerCallDeadlineMs: number | undefined;

  constructor(
    private readonly store: Store,
    private readonly identity: NodeIdentity,
    options: { openTree?: PinTreeFactory; peerCallDeadlineMs?: number } = {},
  ) {
    // Off the event loop, like a WASI job's own resource directories: a peer's calls are guest-caused disk I/O.
    this.openTree = options.openTree ?? ((root, dir, o) => new OffThreadDirectory(root, dir, o));
    this.peerCallDeadlineMs = options.peerCallDeadlineMs;
  }

  /** The owner's resource root on this node. */
  private rootOf(owner: string): string {
    return join(this.store.dataDir, "resources", owner);
  }

  /**
   * Pin `dir` of the owner's for `jobId`, callable by `peer` only. The owner must be a client here,
   * enabled, whose capabilities grant the directory `access` (403 otherwise); the peer must be
   * configured (404). The directory is made when missing, never through a symlink.
   */
  create(pin: NewPin): PinRecord {
    if (pin.access !== "r" && pin.access !== "rw")
      throw new ServerError("bad_request", `pin access must be "r" or "rw", got "${pin.access}"`);
    let dir: string;
    try {
      dir = normalizeTreePath("", pin.dir);
    } catch (e) {
      throw new ServerError("bad_request", `pin directory "${pin.dir}": ${(e as Error).message}`);
    }
    if (dir === "" || dir !== pin.dir)
      throw new ServerError("bad_request", `pin directory "${pin.dir}" must be a normalized relative path, not empty`);
    this.checkOwner(pin.owner, dir, pin.access);
    if (!this.store.peers.get(pin.peer)) throw new ServerError("not_found", `no peer ${pin.peer} to pin a directory for`);
    this.makeDirectory(pin.owner, dir);
    return this.store.pins.add({ ...pin, id: randomBytes(16).toString("base64url") });
  }

  /** Mkdir each component under the owner's root, through HostDirectory: a symlink on the way is refused. */
  private makeDirectory(owner: string, dir: string): void {
    const root = this.rootOf(owner);
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const tree = new HostDirectory(root);
    const parts = dir.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const path = parts.slice(0, i).join("/");
      try {
        tree.mkdir(path);
      } catch (e) {
        if (!(e instanceof FsError) || e.errno !== "EEXIST")
          throw new ServerError("bad_request", `pin directory "${dir}": ${e instanceof Error ? e.message : String(e)}`);
        if (tree.stat(path).type !== "directory")
          throw new ServerError("bad_request", `pin directory "${dir}": "${path}" is not a directory`);
      }
    }
  }

  /** 403 unless the owner exists here, is enabled, and may have `dir` with `access`. */
  private checkOwner(owner: string, dir: string, access: PinAccess): void {
    const client = this.store.clients.get(owner);
    if (!client) throw new ServerError("forbidden", `client ${owner} is not registered on this node`);
    if (client.disabled) throw new ServerError("forbidden", `client ${owner} is disabled on this node`);
    if (!grantsDirectory(client.capabilities, dir, access))
      throw new ServerError(
        "forbidden",
        `client ${owner} has no capability "${dir}/*:${access}" (or a wider prefix grant) for directory "${dir}"; it has ${JSON.stringify(client.capabilities)}`,
      );
  }

  get(id: string): PinRecord | undefined {
    return this.store.pins.get(id);
  }

  /** Every pin here, or one job's (what a job coming back home uses locally again). */
  list(filter: { jobId?: string } = {}): PinRecord[] {
    return this.store.pins.list(filter);
  }

  /** Close the pin's open files and forget it; false if there was no such pin. */
  release(id: string): boolean {
    this.servers.get(id)?.abandon();
    this.servers.delete(id);
    this.lastCalls.delete(id);
    return this.store.pins.remove(id);
  }

  /**
   * Peer `peerId`, the node pin `id` answers, hands its job on to node `to`: a new pin for `to` —
   * same job, owner, directory and access, the owner's capabilities checked again — made now; the
   * old one stays until its node releases it (once the move is decided) or cancels the hand-over.
   */
  handover(id: string, peerId: string, to: string): PinRecord {
    const pin = this.describe(id, peerId);
    if (to === this.identity.nodeId)
      throw new ServerError("bad_request", `pin ${id}: a job coming back to its home node uses the directory itself, not a pin`);
    return this.create({ jobId: pin.jobId, owner: pin.owner, dir: pin.dir, access: pin.access, peer: to });
  }

  /**
   * The node of pin `id` takes back a hand-over that did not happen: `other`, a pin for the same job
   * and directory that has never been called, is released (false: no such pin). 409 once it has
   * been called: the job runs at its node, the hand-over happened.
   */
  cancelHandover(id: string, peerId: string, other: string): boolean {
    const pin = this.describe(id, peerId);
    const made = this.store.pins.get(other);
    if (!made || made.jobId !== pin.jobId || made.owner !== pin.owner || made.dir !== pin.dir || made.id === pin.id) return false;
    if (made.lastSeq > 0) throw new ServerError("conflict", `pin ${other} is in use by node ${made.peer}: the hand-over happened`);
    return this.release(other);
  }

  /** The pin `id` as its peer `peerId` may see it (404 unknown, 403 another signer): what a proxy resynchronizes from. */
  describe(id: string, peerId: string): PinRecord {
    const pin = this.store.pins.get(id);
    if (!pin) throw new ServerError("not_found", `no pin ${id}`);
    if (pin.peer !== peerId) throw new ServerError("forbidden", `pin ${id} is not for node ${peerId}`);
    return pin;
  }

  /**
   * One call from peer `peerId` (the checks in the header); resolves to the answer's body. `sha256`:
   * the body's digest when the caller has it already (the signed one the intake checked the body against).
   */
  call(id: string, peerId: string, body: Uint8Array, sha256?: string): Promise<Uint8Array> {
    const pin = this.describe(id, peerId);
    const { seq, request } = decodeResourceCall(body);
    this.checkOwner(pin.owner, pin.dir, pin.access === "rw" && writes(request) ? "rw" : "r");
    const digest = sha256 ?? createHash("sha256").update(body).digest("hex");
    const last = this.lastCalls.get(id);
    if (seq === pin.lastSeq) {
      if (last?.seq === seq && last.digest === digest) return last.answer;
      const why =
        last?.seq === seq ? "was another call" : "ran, and its answer is no longer kept (this node restarted, or it was long ago)";
      throw new ServerError("out_of_order", `pin ${id}: call ${seq} ${why}; the next is ${seq + 1}`);
    }
    if (seq !== pin.lastSeq + 1 || !this.store.pins.claimSeq(id, seq))
      throw new ServerError("out_of_order", `pin ${id}: call ${seq} is not the next (${pin.lastSeq + 1}) nor the last (${pin.lastSeq})`);
    const answer = this.run(pin, seq, request).then(encodeResourceAnswer);
    const kept = { seq, digest, answer };
    this.lastCalls.set(id, kept);
    // Kept for the peer's retries, which end at its deadline; then the bytes (up to 1 MiB) are let go.
    setTimeout(() => this.lastCalls.get(id) === kept && this.lastCalls.delete(id), PIN_ANSWER_KEPT_MS).unref();
    return answer;
  }

  private async run(pin: PinRecord, seq: number, request: FsRequest): Promise<RemoteAnswer> {
    let server = this.servers.get(pin.id);
    if (!server) {
      try {
        server = new PinServer(this.treeOf(pin));
      } catch (e) {
        // The directory is gone or was replaced: the call fails as a file-system call, not the request.
        const failure = e instanceof FsError ? e : new FsError("ENOENT", `pin ${pin.id}: directory "${pin.dir}" cannot be opened`);
        return fsErrorAnswer(failure);
      }
      this.servers.set(pin.id, server);
    }
    return server.answer(seq, request);
  }

  /** The pin's directory, walked from the owner's root without following a symlink (made so; still so?). */
  private treeOf(pin: PinRecord): Directory | AsyncDirectory {
    const root = this.rootOf(pin.owner);
    if (new HostDirectory(root).stat(pin.dir).type !== "directory")
      throw new FsError("ENOTDIR", `pin ${pin.id}: "${pin.dir}" is no longer a directory`);
    const client = this.store.clients.get(pin.owner);
    const maxFileBytes = client ? quotasOf(client).maxResourceBytes : 0;
    return this.openTree(root, pin.dir, { readOnly: pin.access === "r", maxFileBytes });
  }

  /**
   * The directory `ref` stands for on this node. Elsewhere: a PeerDirectory calling the home node
   * (whose address is read from the peers table at every attempt). At home — the job came back — the
   * pinned directory itself, under the owner's capabilities here (403 otherwise); the caller then
   * releases the pin.
   */
  reference(ref: GlobalReference, options: { deadlineMs?: number; attemptTimeoutMs?: number } = {}): Directory | AsyncDirectory {
    if (ref.home !== this.identity.nodeId) return new PeerDirectory({ ...this.toHome(ref, options), readOnly: ref.access === "r" });
    const pin = this.store.pins.get(ref.pin);
    if (!pin) throw new ServerError("not_found", `no pin ${ref.pin} at this node`);
    this.checkOwner(pin.owner, pin.dir, pin.access);
    return this.treeOf(pin);
  }

  /**
   * The job is done with `ref` (it ended, or is leaving): at home the pin is released here; elsewhere
   * the home node is asked to (false: it held no such pin).
   */
  async releaseAt(ref: GlobalReference, options: { deadlineMs?: number; attemptTimeoutMs?: number } = {}): Promise<boolean> {
    if (ref.home === this.identity.nodeId) return this.release(ref.pin);
    return new PinChannel(this.toHome(ref, options)).release();
  }

  /** How to reach `ref`'s home node: the node's own deadline for such calls unless `options` names one. */
  private toHome(ref: GlobalReference, options: { deadlineMs?: number; attemptTimeoutMs?: number }): PinChannelOptions {
    return {
      ...(this.peerCallDeadlineMs === undefined ? {} : { deadlineMs: this.peerCallDeadlineMs }),
      ...options,
      identity: this.identity,
      home: () => this.store.peers.require(ref.home),
      pin: ref.pin,
    };
  }

  /** Ask the home node of `ref` (held by this node) for a pin of its own for node `to`: the reference the job takes there. */
  async handoverAt(ref: GlobalReference, to: string): Promise<GlobalReference> {
    const body = new TextEncoder().encode(JSON.stringify({ to }));
    const r = await peerRequest(this.identity, this.store.peers.require(ref.home), "POST", `/peer/resources/${ref.pin}/handover`, body, {
      timeoutMs: HANDOVER_TIMEOUT_MS,
    });
    const { pin } = (await r.json()) as { pin: string };
    return { home: ref.home, pin, access: ref.access };
  }

  /** Take back a hand-over of `ref` whose transfer was abandoned: the pin `made` for the other node goes. */
  async cancelHandoverAt(ref: GlobalReference, made: string): Promise<void> {
    const body = new TextEncoder().encode(JSON.stringify({ pin: made }));
    await peerRequest(this.identity, this.store.peers.require(ref.home), "POST", `/peer/resources/${ref.pin}/handover/cancel`, body, {
      timeoutMs: HANDOVER_TIMEOUT_MS,
    });
  }

  /** The node is stopping: every pin's open files are closed (the pins themselves stay, in the store). */
  close(): void {
    for (const server of this.servers.values()) server.abandon();
    this.servers.clear();
    this.lastCalls.clear();
  }
}
