// Errors a person can act on: every bad invocation, run as a real child process, exits with the
// documented status (the table in server/cli/exit-status.ts), prints exactly one line on stderr that
// names the problem and what to do — never a stack trace — prints nothing on stdout, and leaves
// nothing behind (no data directory, key, checkpoint or plot it did not finish making).
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guestWasmPath } from "../../../guest/catalog.js";
import { decodeSnapshot, encodeSnapshot } from "../../../runtime/index.js";
import { generateSigningKey, writeKeyFile } from "../../../server/auth/index.js";
import { EXIT } from "../../../server/cli/exit-status.js";
import { ferry } from "../../helpers/cli.js";
import { removeDir } from "../../helpers/node.js";

const root = mkdtempSync(join(tmpdir(), "ferry-errors-"));
chmodSync(root, 0o755); // the cases run as another user reach into it
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

let busyPort: Server;
let port = 0;
const keyFile = join(root, "me.json");
const snapshotEmbedding = join(root, "embeds.ferry");
const snapshotBare = join(root, "bare.ferry");

beforeAll(async () => {
  busyPort = createServer();
  await new Promise<void>((resolve) => busyPort.listen(0, "127.0.0.1", resolve));
  port = (busyPort.address() as { port: number }).port;
  writeKeyFile(keyFile, generateSigningKey());
  // A sieve checkpoint (embedding its module), and the same snapshot without the module.
  const made = await ferry([
    "run",
    guestWasmPath("sieve"),
    "--args",
    "200000",
    "--slice",
    "200000",
    "--checkpoint-every",
    "1",
    "--out",
    snapshotEmbedding,
  ]);
  expect(made.code, made.stderr).toBe(0);
  const { code: _code, ...bare } = decodeSnapshot(new Uint8Array(await import("node:fs").then((fs) => fs.readFileSync(snapshotEmbedding))));
  writeFileSync(snapshotBare, encodeSnapshot(bare));
}, 120_000);

afterAll(async () => {
  await new Promise<void>((resolve) => busyPort.close(() => resolve()));
  removeDir(root);
});

interface Case {
  name: string;
  /** Arguments; `dir` is the case's own empty directory. */
  args(dir: string): string[];
  status: number;
  /** What the one line must say. */
  says: RegExp;
  /** Prepare `dir` (files, permissions); returns options for the child (another uid). */
  setup?(dir: string): { uid?: number; gid?: number } | void;
  /** Paths (relative to dir, or absolute) that must not exist afterwards. */
  absent?: string[];
  skip?: boolean;
}

const sieve = guestWasmPath("sieve");

const CASES: Case[] = [
  {
    name: "serve on a port in use",
    args: (d) => ["serve", "--port", String(port), "--data-dir", join(d, "data")],
    status: EXIT.unavailable,
    says: /in use by another process; choose another port/,
    absent: ["data"],
  },
  {
    name: "serve --host that is not this machine's",
    args: (d) => ["serve", "--host", "203.0.113.7", "--port", "0", "--data-dir", join(d, "data")],
    status: EXIT.usage,
    says: /203\.0\.113\.7 is not an address of this machine/,
    absent: ["data"],
  },
  {
    name: "serve with a --balance knob but no --balance",
    args: (d) => ["serve", "--port", "0", "--balance-threshold", "3", "--data-dir", join(d, "data")],
    status: EXIT.usage,
    says: /--balance-threshold needs --balance POLICY/,
    absent: ["data"],
  },
  {
    name: "serve --balance sender with the single-threshold knob",
    args: (d) => ["serve", "--port", "0", "--balance", "sender", "--balance-threshold", "3", "--data-dir", join(d, "data")],
    status: EXIT.usage,
    says: /--balance-threshold does not apply to --balance sender/,
    absent: ["data"],
  },
  {
    name: "serve --balance elz-sender with a two-threshold knob",
    args: (d) => ["serve", "--port", "0", "--balance", "elz-sender", "--balance-upper", "5", "--data-dir", join(d, "data")],
    status: EXIT.usage,
    says: /--balance-upper does not apply to --balance elz-sender/,
    absent: ["data"],
  },
  {
    name: "serve --balance elz-receiver --balance-threshold 1",
    args: (d) => ["serve", "--port", "0", "--balance", "elz-receiver", "--balance-threshold", "1", "--data-dir", join(d, "data")],
    status: EXIT.usage,
    says: /--balance elz-receiver: .*threshold/,
    absent: ["data"],
  },
  {
    name: "serve --balance sender with no gap between its thresholds",
    args: (d) => [
      "serve",
      "--port",
      "0",
      "--balance",
      "sender",
      "--balance-lower",
      "2",
      "--balance-upper",
      "3",
      "--data-dir",
      join(d, "data"),
    ],
    status: EXIT.usage,
    says: /--balance sender: /,
    absent: ["data"],
  },
  {
    name: "serve --data-dir that is a file",
    setup: (d) => writeFileSync(join(d, "file"), "x"),
    args: (d) => ["serve", "--port", "0", "--data-dir", join(d, "file")],
    status: EXIT.usage,
    says: /is a file, not a directory; choose another --data-dir/,
  },
  {
    name: "serve --data-dir below a file",
    setup: (d) => writeFileSync(join(d, "file"), "x"),
    args: (d) => ["serve", "--port", "0", "--data-dir", join(d, "file", "data")],
    status: EXIT.usage,
    says: /part of the path is a file/,
  },
  {
    name: "serve --data-dir this user cannot write",
    setup: (d) => {
      const data = join(d, "data");
      mkdirSync(data, { mode: 0o500 });
      chmodSync(data, 0o500);
      if (!isRoot) return;
      // root may write anywhere: run the node as another user, owner of a read-only directory
      chownSync(d, NOBODY, NOBODY);
      chownSync(data, NOBODY, NOBODY);
      return { uid: NOBODY, gid: NOBODY };
    },
    args: (d) => ["serve", "--port", "0", "--data-dir", join(d, "data")],
    status: EXIT.usage,
    says: /is not writable by this user/,
  },
  {
    name: "serve --data-dir that belongs to another user",
    skip: !isRoot,
    setup: (d) => {
      mkdirSync(join(d, "data"), { mode: 0o700 });
      chownSync(join(d, "data"), NOBODY, NOBODY);
    },
    args: (d) => ["serve", "--port", "0", "--data-dir", join(d, "data")],
    status: EXIT.usage,
    says: /belongs to another user \(uid 65534; this process runs as uid 0\)/,
  },
  {
    name: "serve --peers with a key that is not a key",
    setup: (d) => writeFileSync(join(d, "peers.json"), JSON.stringify([{ nodeId: "b", url: "http://127.0.0.1:9", publicKey: "nope" }])),
    args: (d) => ["serve", "--port", "0", "--data-dir", join(d, "data"), "--peers", join(d, "peers.json")],
    status: EXIT.usage,
    says: /--peers .*entry 0 \(b\): public key must be/,
    absent: ["data"],
  },
  {
    name: "keygen --out into a missing directory",
    args: (d) => ["keygen", "--out", join(d, "missing", "me.json")],
    status: EXIT.usage,
    says: /--out .*: directory .*missing does not exist; create it first/,
    absent: ["missing"],
  },
  {
    name: "keygen --out onto a directory",
    setup: (d) => mkdirSync(join(d, "sub")),
    args: (d) => ["keygen", "--out", join(d, "sub")],
    status: EXIT.usage,
    says: /is a directory; name a file/,
  },
  {
    name: "run --checkpoint-every with --out in a missing directory (found before running)",
    args: (d) => ["run", sieve, "--args", "10", "--checkpoint-every", "10", "--out", join(d, "missing", "x.ferry")],
    status: EXIT.usage,
    says: /--out .*missing.*does not exist/,
    absent: ["missing"],
  },
  {
    name: "resume --checkpoint-every with --out in a missing directory",
    args: (d) => ["resume", snapshotEmbedding, "--checkpoint-every", "1", "--out", join(d, "missing", "x.ferry")],
    status: EXIT.usage,
    says: /does not exist/,
  },
  {
    name: "admin on a data directory that does not exist",
    args: (d) => ["admin", "list-clients", "--data-dir", join(d, "typo")],
    status: EXIT.usage,
    says: /typo does not exist .*pass --create/,
    absent: ["typo"],
  },
  {
    name: "admin add-client into a data directory that does not exist",
    args: (d) => ["admin", "add-client", "--data-dir", join(d, "typo"), "--public-key", keyFile],
    status: EXIT.usage,
    says: /does not exist/,
    absent: ["typo"],
  },
  {
    name: "admin --data-dir that is a file",
    setup: (d) => writeFileSync(join(d, "file"), "x"),
    args: (d) => ["admin", "list-clients", "--data-dir", join(d, "file")],
    status: EXIT.usage,
    says: /is a file/,
  },
  {
    name: "admin add-client with a public key that is not one",
    setup: (d) => writeFileSync(join(d, "key.pem"), "garbage"),
    args: (d) => ["admin", "add-client", "--create", "--data-dir", join(d, "data"), "--public-key", join(d, "key.pem")],
    status: EXIT.rejected,
    says: /public key must be/,
    absent: ["data"],
  },
  {
    name: "resume with the wrong --module (the snapshot embeds its own)",
    args: () => ["resume", snapshotEmbedding, "--module", guestWasmPath("nbody")],
    status: EXIT.rejected,
    says: /is not this snapshot's module: .*leave out --module/,
  },
  {
    name: "resume with the wrong --module (the snapshot does not embed one)",
    args: () => ["resume", snapshotBare, "--module", guestWasmPath("nbody")],
    status: EXIT.rejected,
    says: /is not this snapshot's module: its code hash is [0-9a-f]{64}, the snapshot was taken from [0-9a-f]{64}$/m,
  },
  {
    name: "resume a snapshot without its module and no --module",
    args: () => ["resume", snapshotBare],
    status: EXIT.rejected,
    says: /does not embed its module; pass --module FILE/,
  },
  {
    name: "status with a --key file that does not exist",
    args: (d) => ["status", "x", "--key", join(d, "nokey.json"), "--node", "http://127.0.0.1:9"],
    status: EXIT.usage,
    says: /--key .*nokey\.json: no such file \(make a key with 'ferry keygen/,
  },
  {
    name: "--node that is not a URL",
    args: () => ["status", "x", "--node", "localhost-8080"],
    status: EXIT.usage,
    says: /--node localhost-8080: not an http:\/\/ or https:\/\/ URL/,
  },
  {
    name: "status --output into a missing directory (before any request)",
    args: (d) => ["status", "x", "--node", "http://127.0.0.1:9", "--output", join(d, "missing", "out")],
    status: EXIT.usage,
    says: /--output .*does not exist/,
    absent: ["missing"],
  },
  {
    name: "a node that is not there",
    args: () => ["status", "x", "--node", "http://127.0.0.1:9"],
    status: EXIT.unavailable,
    says: /cannot reach the node/,
  },
  {
    name: "simulate --plot into a missing directory (before the sweep)",
    args: (d) => ["simulate", "--plot", join(d, "missing", "p.svg")],
    status: EXIT.usage,
    says: /--plot .*does not exist/,
    absent: ["missing"],
  },
  {
    name: "simulate with a Pareto tail index out of range",
    args: () => ["simulate", "--policies", "placement,preemptive", "--service", "pareto", "--alpha", "-1"],
    status: EXIT.usage,
    says: /--alpha must be a tail index in 0\.1\.\.10, got "-1"/,
  },
  {
    name: "simulate with --scv for a service that has none",
    args: () => ["simulate", "--policies", "preemptive", "--scv", "4"],
    status: EXIT.usage,
    says: /--scv applies only to --service h2/,
  },
  {
    name: "simulate mixing time-sharing and FCFS policies",
    args: () => ["simulate", "--policies", "preemptive,receiver"],
    status: EXIT.usage,
    says: /--policies: placement and preemptive run on time-sharing nodes; mix them only with none, not receiver/,
  },
  {
    name: "cluster with an unknown migration rule (before any node starts)",
    args: () => ["cluster", "--migration", "sometimes"],
    status: EXIT.usage,
    says: /--migration must be cost-model, placement or preemptive, got "sometimes"/,
  },
  {
    name: "cluster with --alpha for exponential jobs",
    args: () => ["cluster", "--alpha", "1"],
    status: EXIT.usage,
    says: /--alpha and --span apply only to --service pareto/,
  },
  {
    name: "cluster with a Pareto span that is no span",
    args: () => ["cluster", "--service", "pareto", "--span", "1"],
    status: EXIT.usage,
    says: /--span must be a number between 1 and 1000000000 \(exclusive\), got "1"/,
  },
  {
    name: "an unknown option",
    args: () => ["run", sieve, "--bogus"],
    status: EXIT.usage,
    says: /^ferry: unknown option --bogus \(see 'ferry run --help'\)$/m,
  },
  {
    name: "an option without its value",
    args: () => ["run", sieve, "--fuel"],
    status: EXIT.usage,
    says: /--fuel.*\(see 'ferry run --help'\)/,
  },
  {
    name: "a number option given a word",
    args: (d) => ["serve", "--port", "eighty", "--data-dir", join(d, "data")],
    status: EXIT.usage,
    says: /--port must be a positive integer, got "eighty"/,
    absent: ["data"],
  },
  {
    name: "an unknown command",
    args: () => ["frobnicate"],
    status: EXIT.usage,
    says: /unknown command "frobnicate" \(see 'ferry --help'\)/,
  },
  {
    name: "run a module that is not there",
    args: (d) => ["run", join(d, "nope.wasm")],
    status: EXIT.usage,
    says: /cannot read guest module .*nope\.wasm: ENOENT/,
  },
  {
    name: "inspect a file that is not a snapshot",
    setup: (d) => writeFileSync(join(d, "x.ferry"), "not a snapshot"),
    args: (d) => ["inspect", join(d, "x.ferry")],
    status: EXIT.rejected,
    says: /error snapshot_\w+: /,
  },
  {
    name: "run with an argument that is not a number",
    args: () => ["run", sieve, "--args", "ten"],
    status: EXIT.rejected,
    says: /argument 0 \("ten"\) is not a decimal number/,
  },
];

/** Every file and directory under `dir`. */
function tree(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).sort() : [];
}

describe("bad invocations: one line, the documented status, nothing left behind", () => {
  for (const c of CASES) {
    it.skipIf(c.skip === true)(
      c.name,
      async () => {
        const dir = mkdtempSync(join(root, "case-"));
        chmodSync(dir, 0o755);
        const as = c.setup?.(dir) ?? {};
        const before = tree(dir);
        const r = await ferry(c.args(dir), { cwd: dir, ...as });
        expect({ status: r.code, stderr: r.stderr }).toMatchObject({ status: c.status });
        expect(r.stderr).toMatch(/^ferry: [^\n]+\n$/); // exactly one line
        expect(r.stderr).toMatch(c.says);
        expect(r.stderr).not.toMatch(/^\s+at /m);
        expect(r.stdout).toBe("");
        expect(tree(dir)).toEqual(before);
        for (const path of c.absent ?? []) expect(existsSync(join(dir, path)), path).toBe(false);
      },
      180_000,
    );
  }
});
