// Ed25519 key material: generate, fingerprint, parse public keys from what users paste, and read and
// write key files (JSON with PEM PKCS8 + SPKI, mode 0600, written atomically).

import { createPrivateKey, createPublicKey, generateKeyPairSync, timingSafeEqual, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "../../runtime/light.js";
import { ServerError } from "../errors.js";
import { keyFingerprint, publicKeyPem } from "../formats/keys.js";

export const KEY_FILE_KIND = "ferry-ed25519-key";

/** On disk: everything a client needs to sign requests. Never leaves the client's machine. */
export interface KeyFile {
  kind: typeof KEY_FILE_KIND;
  /** The id the server knows this key by unless an admin chose another: the key's fingerprint. */
  clientId: string;
  /** SPKI, PEM. */
  publicKey: string;
  /** PKCS8, PEM. */
  privateKey: string;
  createdAt: string;
}

export interface SigningKey {
  clientId: string;
  publicKey: KeyObject;
  privateKey: KeyObject;
}

export function generateSigningKey(): SigningKey {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  return { clientId: keyFingerprint(publicKey), publicKey, privateKey };
}

/**
 * An Ed25519 public key from a PEM SPKI block, a key file (only its public half is read), or base64
 * SPKI DER. Anything else, including other key types, is a bad_request.
 */
export function parsePublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.startsWith("{")) {
      const json = JSON.parse(trimmed) as { publicKey?: unknown };
      if (typeof json.publicKey !== "string") throw new Error("no publicKey field");
      key = createPublicKey(json.publicKey);
    } else if (trimmed.startsWith("-----BEGIN")) {
      key = createPublicKey(trimmed);
    } else {
      key = createPublicKey({ key: Buffer.from(trimmed, "base64"), format: "der", type: "spki" });
    }
  } catch (e) {
    throw new ServerError("bad_request", "public key must be PEM SPKI, base64 SPKI DER or a Ferry key file", { cause: e });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new ServerError("bad_request", `public key must be Ed25519, not ${key.asymmetricKeyType ?? "unknown"}`);
  }
  return key;
}

export function keyFileOf(key: SigningKey, now = new Date()): KeyFile {
  return {
    kind: KEY_FILE_KIND,
    clientId: key.clientId,
    publicKey: publicKeyPem(key.publicKey),
    privateKey: key.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    createdAt: now.toISOString(),
  };
}

/** Atomic and 0600 from the first byte: a private key is never half-written or readable by others. */
export function writeKeyFile(path: string, key: SigningKey): void {
  writeFileAtomic(path, Buffer.from(`${JSON.stringify(keyFileOf(key), null, 2)}\n`), { mode: 0o600 });
}

export function readKeyFile(path: string): SigningKey {
  let json: Partial<KeyFile>;
  try {
    json = JSON.parse(readFileSync(path, "utf8")) as Partial<KeyFile>;
  } catch (e) {
    throw new ServerError("bad_request", `${path} is not a readable Ferry key file`, { cause: e });
  }
  if (json.kind !== KEY_FILE_KIND || typeof json.privateKey !== "string") {
    throw new ServerError("bad_request", `${path} is not a Ferry key file (kind "${KEY_FILE_KIND}" with a privateKey)`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(json.privateKey);
  } catch (e) {
    throw new ServerError("bad_request", `${path}: privateKey is not a PEM PKCS8 key`, { cause: e });
  }
  if (privateKey.asymmetricKeyType !== "ed25519") throw new ServerError("bad_request", `${path}: key is not Ed25519`);
  // The public half is derived from the private key; a stored one that differs means a damaged or
  // hand-edited file, which would sign as someone other than it claims.
  const publicKey = createPublicKey(privateKey);
  if (typeof json.publicKey === "string") {
    let stored: Buffer;
    try {
      stored = createPublicKey(json.publicKey).export({ type: "spki", format: "der" });
    } catch (e) {
      throw new ServerError("bad_request", `${path}: publicKey is not a PEM SPKI key`, { cause: e });
    }
    const derived = publicKey.export({ type: "spki", format: "der" });
    if (stored.length !== derived.length || !timingSafeEqual(stored, derived)) {
      throw new ServerError("bad_request", `${path}: publicKey does not belong to privateKey`);
    }
  }
  const clientId = typeof json.clientId === "string" && json.clientId !== "" ? json.clientId : keyFingerprint(publicKey);
  return { clientId, publicKey, privateKey };
}
