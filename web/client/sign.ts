// Request signing in the browser, the same scheme as the CLI (server/auth/canonical.ts,
// sign-request.ts, migration-grant.ts; docs/auth.md): Ed25519 over the canonical string, with the
// body's length and sha256. The private key comes from a `ferry keygen` file, is imported into
// WebCrypto as non-extractable, and stays in this page: only signatures leave it.

export interface PageKey {
  clientId: string;
  key: CryptoKey;
}

let current: PageKey | null = null;

export const pageKey = (): PageKey | null => current;
export function forgetKey(): void {
  current = null;
}

const utf8 = new TextEncoder();

export function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const hex = (buf: ArrayBuffer): string => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

function pemBody(pem: string, label: string): Uint8Array<ArrayBuffer> {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`the key file's privateKey is not a PEM ${label} block`);
  const bin = atob(m[1]!.replace(/\s+/g, ""));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Read a `ferry keygen` file's text and keep its key in this page; throws naming what is wrong. */
export async function loadKeyFile(text: string): Promise<PageKey> {
  let file: { kind?: unknown; clientId?: unknown; privateKey?: unknown };
  try {
    file = JSON.parse(text) as typeof file;
  } catch {
    throw new Error("not a key file: not JSON");
  }
  if (file.kind !== "ferry-ed25519-key" || typeof file.clientId !== "string" || typeof file.privateKey !== "string")
    throw new Error('not a key file: expected { kind: "ferry-ed25519-key", clientId, privateKey }');
  const key = await crypto.subtle.importKey("pkcs8", pemBody(file.privateKey, "PRIVATE KEY"), { name: "Ed25519" }, false, ["sign"]);
  current = { clientId: file.clientId, key };
  return current;
}

async function signText(key: PageKey, text: Uint8Array<ArrayBuffer>): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key.key, text)));
}

/** The five x-ferry-* headers for one request (path and query exactly as sent). */
export async function signRequest(
  key: PageKey,
  method: string,
  path: string,
  body: Uint8Array<ArrayBuffer>,
): Promise<Record<string, string>> {
  const timestamp = String(Date.now());
  const nonce = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const sha256 = hex(await crypto.subtle.digest("SHA-256", body));
  const canonical = ["FERRY-REQUEST-V2", method.toUpperCase(), path, key.clientId, timestamp, nonce, String(body.byteLength), sha256, "-"];
  return {
    "x-ferry-client": key.clientId,
    "x-ferry-timestamp": timestamp,
    "x-ferry-nonce": nonce,
    "x-ferry-body": `${body.byteLength} ${sha256}`,
    "x-ferry-signature": await signText(key, utf8.encode(canonical.join("\n"))),
  };
}

/** A migration grant: this job may move from `source` to `target` and run there as this client, for ten minutes. */
export async function signGrant(
  key: PageKey,
  what: { job: string; source: string; target: string },
): Promise<{ grant: string; signature: string }> {
  const issuedAt = Date.now();
  const grant = {
    client: key.clientId,
    job: what.job,
    source: what.source,
    target: what.target,
    issuedAt,
    expiresAt: issuedAt + 10 * 60 * 1000,
  };
  const bytes = utf8.encode(JSON.stringify(grant));
  const prefix = utf8.encode("FERRY-GRANT-V1\n");
  const message = new Uint8Array(prefix.byteLength + bytes.byteLength);
  message.set(prefix);
  message.set(bytes, prefix.byteLength);
  return { grant: base64url(bytes), signature: await signText(key, message) };
}
