// `ferry keygen` and `ferry admin` through the CLI's own dispatcher (exit statuses included), then the
// key file and data directory they produced used for real: a signed request verified by the store.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { DEFAULT_QUOTAS, readKeyFile, signRequest, verifyRequest, type KeyFile } from "../../server/auth/index.js";
import { main } from "../../server/cli/main.js";
import { isServerError } from "../../server/errors.js";
import { Store, type ClientRecord } from "../../server/store/index.js";

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function ferry(...argv: string[]): Promise<Ran> {
  let stdout = "";
  let stderr = "";
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        append(chunk.toString());
        done();
      },
    });
  const code = await main(argv, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) });
  return { code, stdout, stderr };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "ferry-keygen-"));
}

describe("ferry keygen", () => {
  it("writes an Ed25519 key file with mode 0600 and prints the client id", async () => {
    const dir = tempDir();
    const out = join(dir, "key.json");
    const r = await ferry("keygen", "--out", out, "--json");
    expect(r.code).toBe(0);
    const printed = JSON.parse(r.stdout) as { clientId: string; publicKey: string };
    const file = JSON.parse(readFileSync(out, "utf8")) as KeyFile;
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(file).toMatchObject({ kind: "ferry-ed25519-key", clientId: printed.clientId, publicKey: printed.publicKey });
    expect(file.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(readKeyFile(out).clientId).toBe(printed.clientId);
  });

  it("refuses to overwrite a key file without --force (exit 2)", async () => {
    const out = join(tempDir(), "key.json");
    expect((await ferry("keygen", "--out", out)).code).toBe(0);
    const before = readFileSync(out, "utf8");
    expect((await ferry("keygen", "--out", out)).code).toBe(2);
    expect(readFileSync(out, "utf8")).toBe(before);
    expect((await ferry("keygen", "--out", out, "--force")).code).toBe(0);
    expect(readFileSync(out, "utf8")).not.toBe(before);
  });
});

describe("ferry admin", () => {
  it("adds a client whose key file then signs requests the node accepts", async () => {
    const dir = tempDir();
    const data = join(dir, "data");
    const keyFile = join(dir, "key.json");
    await ferry("keygen", "--out", keyFile);
    const added = await ferry(
      "admin",
      "add-client",
      "--create",
      "--data-dir",
      data,
      "--public-key",
      keyFile,
      "--capabilities",
      "reports/*:rw",
      "--capabilities",
      "config.json:r",
      "--quotas",
      "maxConcurrentJobs=2,maxMemoryPages=256",
      "--json",
    );
    expect(added.stderr).toBe("");
    expect(added.code).toBe(0);
    const client = JSON.parse(added.stdout) as ClientRecord;
    const key = readKeyFile(keyFile);
    expect(client).toMatchObject({
      id: key.clientId,
      capabilities: ["config.json:r", "reports/*:rw"],
      quotas: { ...DEFAULT_QUOTAS, maxConcurrentJobs: 2, maxMemoryPages: 256 },
    });
    expect(JSON.parse((await ferry("admin", "list-clients", "--data-dir", data, "--json")).stdout)).toEqual([client]);

    using store = Store.open(data);
    const request = { method: "POST", path: "/modules", body: "wasm", now: 1e12 };
    expect(verifyRequest(store, { ...request, headers: signRequest(key, request) }).id).toBe(key.clientId);

    // Disabling works while the node has the directory open.
    expect((await ferry("admin", "disable-client", "--data-dir", data, key.clientId)).code).toBe(0);
    const again = { ...request, now: 1e12 + 1 };
    try {
      verifyRequest(store, { ...again, headers: signRequest(key, again) });
      expect.fail("a disabled client was accepted");
    } catch (e) {
      expect(isServerError(e, "unauthorized") && e.reason).toBe("disabled_client");
    }
  });

  it("accepts a PEM public key, JSON quotas and an explicit id", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "key.json");
    await ferry("keygen", "--out", keyFile);
    const pem = join(dir, "key.pub");
    writeFileSync(pem, (JSON.parse(readFileSync(keyFile, "utf8")) as KeyFile).publicKey);
    const r = await ferry(
      "admin",
      "add-client",
      "--create",
      "--data-dir",
      join(dir, "data"),
      "--public-key",
      pem,
      "--id",
      "alice",
      "--quotas",
      '{"maxFuelPerJob":1000}',
      "--json",
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: "alice", capabilities: [], quotas: { ...DEFAULT_QUOTAS, maxFuelPerJob: 1000 } });
  });

  it("exits 2 for a bad command line and 3 for rejected input, leaving the store unchanged", async () => {
    const dir = tempDir();
    const data = join(dir, "data");
    const keyFile = join(dir, "key.json");
    await ferry("keygen", "--out", keyFile);
    expect((await ferry("admin")).code).toBe(2);
    expect((await ferry("admin", "add-client", "--data-dir", data)).code).toBe(2); // no --public-key
    expect((await ferry("admin", "frobnicate")).code).toBe(2);
    expect((await ferry("admin", "add-client", "--data-dir", data, "--public-key", keyFile, "--quotas", "maxCpu")).code).toBe(2);
    const badCapability = await ferry("admin", "add-client", "--data-dir", data, "--public-key", keyFile, "--capabilities", "everything");
    expect(badCapability.code).toBe(3);
    expect(badCapability.stderr).toContain("bad_request");
    expect((await ferry("admin", "add-client", "--data-dir", data, "--public-key", keyFile, "--quotas", "maxCpu=1")).code).toBe(3);
    expect((await ferry("admin", "add-client", "--data-dir", data, "--public-key", join(dir, "data"))).code).toBe(2); // unreadable
    expect((await ferry("admin", "add-client", "--data-dir", data, "--public-key", keyFile)).code).toBe(2); // no such data directory
    expect((await ferry("admin", "add-client", "--create", "--data-dir", data, "--public-key", keyFile)).code).toBe(0);
    const duplicate = await ferry("admin", "add-client", "--data-dir", data, "--public-key", keyFile);
    expect(duplicate.code).toBe(3);
    expect(duplicate.stderr).toContain("conflict");
    expect((await ferry("admin", "disable-client", "--data-dir", data, "nobody")).code).toBe(3);
    expect(JSON.parse((await ferry("admin", "list-clients", "--data-dir", data, "--json")).stdout)).toHaveLength(1);
  });

  it("documents both commands in --help", async () => {
    expect((await ferry("keygen", "--help")).stdout).toContain("--out FILE");
    expect((await ferry("admin", "--help")).stdout).toContain("add-client");
    expect((await ferry("--help")).stdout).toMatch(/keygen[\s\S]*admin/);
  });
});
