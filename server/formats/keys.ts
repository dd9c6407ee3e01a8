// Public-key formats the store and auth both use: the PEM a key is stored as, and the fingerprint a
// client is known by. Pure functions of a KeyObject (no files, no validation policy).

import { createHash, type KeyObject } from "node:crypto";

export function publicKeyPem(key: KeyObject): string {
  return key.export({ type: "spki", format: "pem" }).toString();
}

/** First 128 bits of sha256(SPKI DER), hex: short enough to type, long enough never to collide by chance. */
export function keyFingerprint(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("hex").slice(0, 32);
}
