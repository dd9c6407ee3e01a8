// `ferry keygen`: create a client's Ed25519 key pair in a key file (mode 0600, written atomically) and
// print the public half for the node's admin.

import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { generateSigningKey, writeKeyFile } from "../auth/keys.js";
import { publicKeyPem } from "../formats/keys.js";
import { checkWritableFile } from "./paths.js";
import type { Io } from "./options.js";
import { HELP, UsageError } from "./usage.js";

// *.key.json: .gitignore covers it, and the package's files allow-list never includes it.
export const DEFAULT_KEY_FILE = "ferry.key.json";

export async function keygenCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: "string", default: DEFAULT_KEY_FILE },
      force: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${HELP.keygen}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError("ferry keygen takes no positional arguments (use --out FILE)");
  // Overwriting a key file loses the only copy of a private key: make it deliberate.
  checkWritableFile("--out", values.out);
  if (existsSync(values.out) && !values.force) throw new UsageError(`${values.out} already exists; pass --force to replace it`);
  const key = generateSigningKey();
  writeKeyFile(values.out, key);
  const publicKey = publicKeyPem(key.publicKey);
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ clientId: key.clientId, keyFile: values.out, publicKey })}\n`);
    return 0;
  }
  io.stdout.write(
    `wrote ${values.out} (keep it private: it holds the private key)\n` +
      `client id  ${key.clientId}\n${publicKey}` +
      `Give the admin this public key, or the key file's "publicKey" field:\n` +
      `  ferry admin add-client --public-key <file with the key above>\n`,
  );
  return 0;
}
