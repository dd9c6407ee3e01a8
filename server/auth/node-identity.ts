// A node's own Ed25519 identity (created on first start in the data directory) and the signatures
// that let a peer check a migration transfer came from this node, unchanged.

import { createHash, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { existsSync, linkSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { generateSigningKey, publicKeyPem, readKeyFile, writeKeyFile } from "./keys.js";

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
}

/** Reads <dataDir>/node-key.json, or creates it (mode 0600) if this is the node's first start. */
export function loadOrCreateNodeIdentity(dataDir: string): NodeIdentity {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, NODE_KEY_FILE);
  if (!existsSync(path)) {
    // Write under a private name, then link: link() fails if another process created the key first, so
    // two nodes started at once on one directory still end up with a single identity.
    const temp = join(dataDir, `.${NODE_KEY_FILE}.${process.pid}.new`);
    writeKeyFile(temp, generateSigningKey());
    try {
      linkSync(temp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    } finally {
      rmSync(temp, { force: true });
    }
  }
  const key = readKeyFile(path);
  return { nodeId: key.clientId, publicKey: key.publicKey, publicKeyPem: publicKeyPem(key.publicKey), privateKey: key.privateKey };
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
