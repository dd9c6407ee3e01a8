// One table of exit statuses for every `ferry` command: the same table in `ferry --help`, in every
// command's --help and in the README, and the statuses it promises, from real child processes.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findRepoRoot } from "../../../guest/catalog.js";
import { EXIT, EXIT_STATUS_TABLE } from "../../../server/cli/exit-status.js";
import { ferry } from "../../helpers/cli.js";
import { INFINITE_LOOP, TRAPS } from "../../helpers/fixtures.js";
import { removeDir, startTestNode, type TestNode } from "../../helpers/node.js";
import { wat } from "../../helpers/wat.js";

const COMMANDS = [
  "run",
  "resume",
  "inspect",
  "simulate",
  "cluster",
  "keygen",
  "admin",
  "serve",
  "node",
  "peers",
  "upload",
  "modules",
  "submit",
  "status",
  "migrate",
  "pause",
  "cancel",
  "logs",
  "output",
  "snapshot",
  "share",
  "cache",
];

describe("the exit status table", () => {
  it("ends ferry --help and every command's --help", async () => {
    const top = await ferry(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain(EXIT_STATUS_TABLE);
    // A few children at a time: each mostly waits for its own start-up.
    for (let i = 0; i < COMMANDS.length; i += 4) {
      const batch = COMMANDS.slice(i, i + 4);
      const ran = await Promise.all(batch.map((command) => ferry([command, "--help"])));
      batch.forEach((command, k) => {
        expect(ran[k]!.code, command).toBe(0);
        expect(ran[k]!.stdout, command).toContain(EXIT_STATUS_TABLE);
      });
    }
  }, 120_000);

  it("is the README's table, status for status", () => {
    const readme = readFileSync(join(findRepoRoot(), "README.md"), "utf8");
    const rows = [...readme.matchAll(/^\| (\d) \| (.+) \|$/gm)].map((m) => Number(m[1]));
    expect(rows).toEqual(Object.values(EXIT).sort());
    // Every status the table names is in the help text too.
    for (const status of Object.values(EXIT)) expect(EXIT_STATUS_TABLE).toMatch(new RegExp(`^  ${status}  `, "m"));
  });
});

describe("submit --wait and status --wait: the job's end is the exit status", () => {
  let n: TestNode;
  let traps: string;
  let done: string;
  let spin: string;

  beforeAll(async () => {
    n = await startTestNode({ quotas: { maxConcurrentJobs: 16 }, sharedModuleCache: true });
    traps = (await n.client.uploadModule(TRAPS, { public: true })).codeHash;
    done = (await n.client.uploadModule(wat(`(module (func (export "main") (result i32) (i32.const 7)))`), { public: true })).codeHash;
    spin = (await n.client.uploadModule(INFINITE_LOOP, { public: true })).codeHash;
  });
  afterAll(async () => {
    await n?.close();
    if (n) removeDir(n.dataDir);
  });

  it("a trapped job: submit --wait exits 1, status --wait exits 1, plain status exits 0", async () => {
    const submitted = await ferry(["submit", traps, "--entry", "unreachable", "--wait", "30000", "--node", n.running.url]);
    expect(submitted.code).toBe(EXIT.failed);
    const job = JSON.parse(submitted.stdout) as { id: string; state: string };
    expect(job.state).toBe("trapped");
    expect((await ferry(["status", job.id, "--wait", "--node", n.running.url])).code).toBe(EXIT.failed);
    expect((await ferry(["status", job.id, "--node", n.running.url])).code).toBe(EXIT.ok);
  });

  it("a completed job exits 0; a cancelled one waited for exits 1", async () => {
    const ok = await ferry(["submit", done, "--wait", "30000", "--node", n.running.url]);
    expect(ok.code).toBe(EXIT.ok);
    expect(JSON.parse(ok.stdout)).toMatchObject({ state: "done", result: { value: 7 } });
    const job = await n.anonymous.startJob({ codeHash: spin, entry: "spin", sandbox: "in-process" });
    await n.anonymous.cancel(job.id);
    expect((await ferry(["status", job.id, "--wait", "--node", n.running.url])).code).toBe(EXIT.failed);
  });

  it("a refused request exits 3, an unreachable node 5, each with one line on stderr", async () => {
    const refused = await ferry(["status", "no-such-job", "--node", n.running.url]);
    expect(refused.code).toBe(EXIT.rejected);
    expect(refused.stderr).toMatch(/^ferry: 404 not_found: .*signed with its owner's key\n$/);
    const unreachable = await ferry(["status", "x", "--node", "http://127.0.0.1:9"]);
    expect(unreachable.code).toBe(EXIT.unavailable);
    expect(unreachable.stderr).toMatch(/^ferry: cannot reach the node [^\n]*\n$/);
  });
});

describe("the job commands: a bad command line exits 2 before any request", () => {
  // The node is unreachable on purpose: a command that sent anything would exit 5, not 2.
  const node = ["--node", "http://127.0.0.1:9"];
  const id = "0b7e3a52-1c4d-4e6f-8a9b-0c1d2e3f4a5b";
  const cases: { args: string[]; says: RegExp }[] = [
    ...["pause", "cancel", "logs", "output", "snapshot", "share"].flatMap((command) => [
      { args: [command, ...node], says: new RegExp(`ferry ${command} takes exactly one <job-id>`) },
      { args: [command, id, id, ...node], says: new RegExp(`ferry ${command} takes exactly one <job-id>`) },
      { args: [command, id, "--bogus", ...node], says: /unknown option --bogus/ },
      // share signs its grants: without a key it stops at that first.
      {
        args: [command, id, "--node", "not-a-url"],
        says: command === "share" ? /--key FILE is required/ : /--node not-a-url: not an http/,
      },
    ]),
    { args: ["resume", id, "--bogus", ...node], says: /unknown option --bogus/ },
    { args: ["migrate", id, ...node, "--key", "x"], says: /--to PEER-ID \(or the peer's URL\) is required/ },
    { args: ["migrate", id, id, "--to", "p", ...node], says: /ferry migrate takes exactly one <job-id>/ },
    { args: ["share", id, "--peers", ",", ...node], says: /--peers needs at least one peer id/ },
    { args: ["share", id, "--lifetime-ms", "soon", ...node], says: /--lifetime-ms/ },
    { args: ["submit", "abc", "--quiet", "--sandbox", "nowhere", ...node], says: /--sandbox must be in-process or isolated/ },
  ];

  it.each(cases)("ferry $args.0 $args.1 …: exit 2, one line", async ({ args, says }) => {
    const r = await ferry(args);
    expect(r.code, r.stderr).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/^ferry: [^\n]*\n$/);
    expect(r.stderr).toMatch(says);
  });
});
