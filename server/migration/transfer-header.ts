// The PREPARE message: a JSON transfer header (sent base64url in the `x-ferry-transfer` HTTP header,
// whose digest the node's request signature covers) and the snapshot bytes as the raw body (strong)
// or no body (weak). The signature also covers the body's length and sha256 (docs/auth.md), checked
// as it streams in; the header names the digest the snapshot itself ends with, which decoding checks.

import {
  DEFAULT_CONTINUATION_STACK_BYTES,
  DEFAULT_MAX_INPUT_BYTES,
  DEFAULT_MAX_OUTPUT_BYTES,
  WASM_PAGE_BYTES,
} from "../../runtime/index.js";
import { HEADER_TRANSFER, parseSignedGrant, type SignedGrant } from "../auth/index.js";
import { ServerError } from "../errors.js";
import { parseJobWasi } from "../job-wasi.js";
import type { JobSandbox, JobTrust, JobWasi, Json } from "../store/records.js";

export const TRANSFER_HEADER = HEADER_TRANSFER;
/** 3: the owner's migration grant travels with the transfer, and requests sign their body's length (FERRY-REQUEST-V2). */
export const TRANSFER_VERSION = 3;

/**
 * Room in a transfer body for the directories that travel with the job (a tree bundle): the default
 * client resource quota. A larger tree fails its transfer with 413 (the job goes on at its source).
 */
export const MAX_TRANSFER_TREE_BYTES = 64 * 1024 * 1024;

/**
 * The largest PREPARE or PRE-COPY body a node with this memory cap takes: a snapshot whose memory,
 * input, output and saved stack are all at their caps, stored raw, plus room for the sections, then
 * the travelling directories' bundle.
 */
export function maxTransferBytes(maxMemoryPages: number): number {
  return (
    maxMemoryPages * WASM_PAGE_BYTES +
    DEFAULT_MAX_INPUT_BYTES +
    DEFAULT_MAX_OUTPUT_BYTES +
    DEFAULT_CONTINUATION_STACK_BYTES +
    1024 * 1024 +
    MAX_TRANSFER_TREE_BYTES
  );
}

/** The FERRYSNP digest is the last 32 bytes (docs/snapshot-format.md). */
const SNAPSHOT_DIGEST_BYTES = 32;
const MAX_HEADER_BYTES = 64 * 1024;

export interface TransferHeader {
  v: typeof TRANSFER_VERSION;
  /** strong / weak: PREPARE. base: a pre-copy of a running job's snapshot, sent before it stops. */
  kind: "strong" | "weak" | "base";
  jobId: string;
  /** The epoch the job will have at the target: the source's epoch + 1. */
  epoch: number;
  source: string;
  target: string;
  codeHash: string;
  entry: string;
  args: Json[];
  owner: string | null;
  trust: JobTrust;
  sandbox: JobSandbox;
  fuelLimit: number | null;
  fuelUsed: number;
  /** Strong and base: the snapshot's own trailing sha256 (hex), binding the body to this signed header. */
  snapshotSha256: string | null;
  /**
   * Strong after a pre-copy, or a later pre-copy round: the body is a delta against the base the
   * target stored under this blob hash.
   */
  baseHash: string | null;
  /** Weak transfers carry the input inline (base64); strong ones have it inside the snapshot. */
  input: string | null;
  /**
   * The owner's permission for this move (server/auth/migration-grant.ts). Without a valid one the
   * target runs the job as anonymous, whatever `owner` and `trust` say.
   */
  grant: SignedGrant | null;
  /**
   * Strong PREPARE of a paused job: it stays paused at the target until its owner resumes it (a
   * running job goes on running). Absent (older senders) means false.
   */
  paused?: boolean;
  /**
   * A WASI job's argv, environment and directories: the target binds each resource directory by
   * name under the owner's root there (checking the owner's capabilities there), and takes the
   * scratch trees from the snapshot's resource section. Absent (older senders, non-WASI jobs): null.
   */
  wasi?: JobWasi | null;
  /**
   * Directories that travel with the job (moved or copied, docs/resource-segment.md): the last
   * `trees` bytes of the body are their tree bundle (runtime tree-bundle.ts), after the snapshot if
   * any. Absent or 0: none.
   */
  trees?: number;
}

/** The trailing digest of an encoded snapshot, hex. */
export function snapshotDigest(snapshot: Uint8Array): string {
  if (snapshot.byteLength < SNAPSHOT_DIGEST_BYTES) throw new ServerError("bad_request", "transfer: snapshot is shorter than its digest");
  return Buffer.from(snapshot.buffer, snapshot.byteOffset + snapshot.byteLength - SNAPSHOT_DIGEST_BYTES, SNAPSHOT_DIGEST_BYTES).toString(
    "hex",
  );
}

/** The header as it travels (base64url): the request signature covers this text's sha256. */
export function encodeTransferHeader(header: TransferHeader): { text: string } {
  return { text: Buffer.from(JSON.stringify(header), "utf8").toString("base64url") };
}

export function decodeTransferHeader(text: string | undefined | null): { header: TransferHeader } {
  const bad = (detail: string): never => {
    throw new ServerError("bad_request", `transfer: ${detail}`);
  };
  if (!text) return bad(`the ${TRANSFER_HEADER} header is missing`);
  if (text.length > (MAX_HEADER_BYTES * 4) / 3 || !/^[A-Za-z0-9_-]+$/.test(text))
    bad(`${TRANSFER_HEADER} must be base64url of at most ${MAX_HEADER_BYTES} bytes`);
  const signed = Buffer.from(text, "base64url");
  let header: TransferHeader;
  try {
    header = JSON.parse(signed.toString("utf8")) as TransferHeader;
  } catch {
    return bad("header is not JSON");
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) bad("header is not an object");
  if (header.v !== TRANSFER_VERSION) bad(`version ${String(header.v)}, expected ${TRANSFER_VERSION}`);
  if (header.kind !== "strong" && header.kind !== "weak" && header.kind !== "base") bad("kind must be strong, weak or base");
  for (const key of ["jobId", "source", "target", "codeHash", "entry"] as const)
    if (typeof header[key] !== "string") bad(`${key} must be a string`);
  if (!Number.isSafeInteger(header.epoch) || header.epoch < 1) bad("epoch must be a positive integer");
  if (!Array.isArray(header.args)) bad("args must be an array");
  if (!header.args.every((a) => typeof a === "number" || typeof a === "string")) bad("args must be numbers or decimal strings");
  if (header.owner !== null && typeof header.owner !== "string") bad("owner must be a string or null");
  if (header.fuelLimit !== null && (!Number.isSafeInteger(header.fuelLimit) || header.fuelLimit < 1))
    bad("fuelLimit must be a positive integer or null");
  if (!Number.isSafeInteger(header.fuelUsed) || header.fuelUsed < 0) bad("fuelUsed must be a non-negative integer");
  if (header.input !== null && typeof header.input !== "string") bad("input must be base64 or null");
  if (header.trust !== "anonymous" && header.trust !== "authenticated") bad("bad trust class");
  if (header.sandbox !== "in-process" && header.sandbox !== "isolated") bad("bad sandbox");
  if (header.kind !== "weak" && (typeof header.snapshotSha256 !== "string" || !/^[0-9a-f]{64}$/.test(header.snapshotSha256))) {
    bad("a strong or base transfer names its snapshot's sha256");
  }
  if (header.baseHash !== undefined && header.baseHash !== null && (header.kind === "weak" || !/^[0-9a-f]{64}$/.test(header.baseHash))) {
    bad("only a strong or base transfer names a base, by its sha256");
  }
  header.baseHash ??= null;
  if (header.paused !== undefined && typeof header.paused !== "boolean") bad("paused must be a boolean");
  if (header.paused === true && header.kind === "weak") bad("a weak transfer restarts the job: it cannot arrive paused");
  header.trees ??= 0;
  if (!Number.isSafeInteger(header.trees) || header.trees < 0) bad("trees must be a byte count");
  header.wasi =
    header.wasi === undefined || header.wasi === null ? null : parseJobWasi(header.wasi, "transfer: wasi", { references: true });
  header.grant = header.grant === undefined || header.grant === null ? null : parseSignedGrant(header.grant);
  return { header };
}

/**
 * The body split as the signed header describes it: the snapshot it names (strong and base; none for
 * weak), then `trees` bytes of tree bundle (or none).
 */
export function checkTransferBody(
  header: TransferHeader,
  body: Uint8Array,
): { snapshot: Uint8Array | undefined; trees: Uint8Array | undefined } {
  const treeBytes = header.trees ?? 0;
  if (treeBytes > body.byteLength)
    throw new ServerError("bad_request", `transfer: the body is shorter than its ${treeBytes} bytes of trees`);
  const trees = treeBytes > 0 ? body.subarray(body.byteLength - treeBytes) : undefined;
  const rest = body.subarray(0, body.byteLength - treeBytes);
  if (header.kind === "weak") {
    if (rest.byteLength > 0) throw new ServerError("bad_request", "transfer: a weak transfer carries no snapshot");
    return { snapshot: undefined, trees };
  }
  if (rest.byteLength === 0) throw new ServerError("bad_request", `transfer: a ${header.kind} transfer needs a snapshot`);
  if (snapshotDigest(rest) !== header.snapshotSha256)
    throw new ServerError("bad_request", "transfer: the snapshot is not the one the signed header names");
  return { snapshot: rest, trees };
}
