// A node's own Ed25519 identity (created on first start in the data directory) and the signatures
// that let a peer check a migration transfer came from this node, unchanged.

import { createHash, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../runtime/light.js";
import { ServerError } from "../errors.js";
import { generateSigningKey, KEY_FILE_KIND, readKeyFile, type SigningKey } from "./keys.js";
import { publicKeyPem } from "../formats/keys.js";

export const NODE_KEY_FILE = "node-key.json";

/** First line of every signed transfer; distinct from the request prefix, so one can never pass for the other. */
export const TRANSFER_SIGNATURE_VERSION = "FERRY-TRANSFER-V1";

export interface NodeIdentity {
  /** The public key's fingerprint. */
  nodeId: string;
  publicKey: KeyObject;
  /** SPKI, PEM: what peers put in their configuration. */
  publicKeyPem: string;
  privateKey: KeyObject;
  /** Set when the key file was in an older form and has been rewritten: one line for the operator. */
  note?: string;
}

/**
 * node-key.json: a client key file's fields, but the id is `nodeId` — the name the peers file,
 * `GET /node` and `ferry serve --json` use. Files written before used `clientId`; they are read, and
 * rewritten with `nodeId` (atomically, mode 0600) the next time the node starts.
 */
function nodeKeyFileText(key: SigningKey, createdAt: string): Buffer {
  const file = {
    kind: KEY_FILE_KIND,
    nodeId: key.clientId,
    publicKey: publicKeyPem(key.publicKey),
    privateKey: key.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    createdAt,
  };
  return Buffer.from(`${JSON.stringify(file, null, 2)}\n`);
}

/** Reads <dataDir>/node-key.json, or creates it (mode 0600) if this is the node's first start. */
export function loadOrCreateNodeIdentity(dataDir: string): NodeIdentity {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, NODE_KEY_FILE);
  if (!existsSync(path)) {
    // Write under a private name, then link: link() fails if another process created the key first, so
    // two nodes started at once on one directory still end up with a single identity.
    const temp = join(dataDir, `.${NODE_KEY_FILE}.${process.pid}.new`);
    writeFileAtomic(temp, nodeKeyFileText(generateSigningKey(), new Date().toISOString()), { mode: 0o600 });
    try {
      linkSync(temp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    } finally {
      rmSync(temp, { force: true });
    }
  }
  const identity = readNodeIdentityFile(path);
  if (identity.legacy) {
    const raw = JSON.parse(readFileSync(path, "utf8")) as { createdAt?: unknown };
    const createdAt = typeof raw.createdAt === "string" ? raw.createdAt : new Date().toISOString();
    const { nodeId, publicKey, privateKey } = identity.node;
    writeFileAtomic(path, nodeKeyFileText({ clientId: nodeId, publicKey, privateKey }, createdAt), { mode: 0o600 });
    return { ...identity.node, note: `${path} named the node id "clientId" (its old name); rewritten with "nodeId"` };
  }
  return identity.node;
}

/**
 * The identity of the node whose data directory this is, without creating one (`ferry node info
 * --data-dir`): not_found if the node never started there.
 */
export function readNodeIdentity(dataDir: string): NodeIdentity {
  const path = join(dataDir, NODE_KEY_FILE);
  if (!existsSync(path))
    throw new ServerError(
      "not_found",
      `${dataDir} has no ${NODE_KEY_FILE}: a node makes it on its first start ('ferry serve --data-dir ${dataDir}')`,
    );
  return readNodeIdentityFile(path).node;
}

/** The key file (checked by readKeyFile), its id from `nodeId`, or the legacy `clientId`, or the key's fingerprint. */
function readNodeIdentityFile(path: string): { node: NodeIdentity; legacy: boolean } {
  const key = readKeyFile(path);
  const raw = JSON.parse(readFileSync(path, "utf8")) as { nodeId?: unknown; clientId?: unknown };
  const nodeId = typeof raw.nodeId === "string" && raw.nodeId !== "" ? raw.nodeId : key.clientId;
  const legacy = raw.nodeId === undefined && raw.clientId !== undefined;
  const node = { nodeId, publicKey: key.publicKey, publicKeyPem: publicKeyPem(key.publicKey), privateKey: key.privateKey };
  return { node, legacy };
}

function transferMessage(bytes: Uint8Array): Buffer {
  // Sign the digest, not the bytes: one pass of sha256 over a large snapshot, and a fixed-size message.
  return Buffer.from(`${TRANSFER_SIGNATURE_VERSION}\n${createHash("sha256").update(bytes).digest("hex")}`, "utf8");
}

/**
 * Signs a transfer's bytes (base64url signature). The bytes should bind everything the receiver acts on:
 * job id, epoch, target node and the snapshot or its hash — a signature says nothing about anything else.
 */
export function signTransfer(identity: Pick<NodeIdentity, "privateKey">, bytes: Uint8Array): string {
  return sign(null, transferMessage(bytes), identity.privateKey).toString("base64url");
}

/** Whether `signature` is the peer's signature over exactly these bytes. */
export function verifyTransfer(publicKey: KeyObject | string, bytes: Uint8Array, signature: string): boolean {
  const key = typeof publicKey === "string" ? createPublicKey(publicKey) : publicKey;
  const sig = Buffer.from(signature, "base64url");
  if (sig.length !== 64 || key.asymmetricKeyType !== "ed25519") return false;
  return verify(null, transferMessage(bytes), key, sig);
}
