// README's "Run a two-node cluster" walkthrough, run as a user types it: every `$` line of its console
// blocks, in order, through /bin/sh, with `ferry` on the PATH — real child processes, two real nodes.
// Two things differ, both so it runs anywhere at once: a node's `--port 8081` becomes `--port 0` (the
// OS picks a free port, no race with other tests) and the URL the node prints replaces
// http://127.0.0.1:8081 in every later line; and it all happens in a temp directory (with `build`
// linked to the repo's). `ferry serve` lines run in the background until the end (SIGTERM, then
// waiting for a clean exit); every other line must exit 0 and print every line the README shows.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";
import { findRepoRoot } from "../guest/catalog.js";
import { FERRY_BIN } from "./helpers/cli.js";
import { printedLine, readmeWalkthrough, type Step } from "./helpers/console-walkthrough.js";
import { removeDir, tempDir } from "./helpers/node.js";

const root = findRepoRoot();
const dir = tempDir("ferry-readme-cluster-");
// Generous: a guard against a hung command, never an assertion on how long anything takes.
const COMMAND_DEADLINE_MS = 8 * 60_000;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Node {
  child: ChildProcess;
  url: string;
  nodeId: string;
  exited: Promise<number | null>;
  stdout: string;
}

const nodes: Node[] = [];

afterAll(async () => {
  for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill("SIGKILL");
  await Promise.all(nodes.map((n) => n.exited));
  removeDir(dir);
});

/** `ferry` as an installed command: a script on the PATH running the built CLI. */
function ferryOnPath(): string {
  const bin = join(dir, ".bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "ferry"), `#!/bin/sh\nexec "${process.execPath}" --single-threaded-gc "${FERRY_BIN}" "$@"\n`);
  chmodSync(join(bin, "ferry"), 0o755);
  return bin;
}

function sh(command: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", command], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const guard = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`still running after ${COMMAND_DEADLINE_MS} ms: ${command}\n${stdout}\n${stderr}`));
    }, COMMAND_DEADLINE_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A `ferry serve` line in the background, until it says where it listens. */
function serve(command: string, env: NodeJS.ProcessEnv): Promise<Node> {
  // exec: the signal at the end goes to the node itself, not to a shell around it.
  const child = spawn("/bin/sh", ["-c", `exec ${command}`], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const guard = setTimeout(
      () => reject(new Error(`${command}: no "listening on" after ${COMMAND_DEADLINE_MS} ms\n${stdout}\n${stderr}`)),
      COMMAND_DEADLINE_MS,
    );
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      const m = /^ferry node (\S+) listening on (\S+) /m.exec(stdout);
      if (m) {
        clearTimeout(guard);
        const node: Node = { child, url: m[2]!, nodeId: m[1]!, exited, stdout };
        nodes.push(node);
        resolve(node);
      }
    });
    void exited.then((code) => {
      clearTimeout(guard);
      reject(new Error(`${command} exited ${code} before listening:\n${stdout}\n${stderr}`));
    });
  });
}

it("README's two-node cluster walkthrough runs as written", { timeout: 20 * 60_000 }, async () => {
  const steps = readmeWalkthrough("cluster-walkthrough");
  expect(steps.length).toBeGreaterThan(10);
  symlinkSync(join(root, "build"), join(dir, "build"));
  const { FERRY_KEY: _key, FERRY_NODE: _node, ...inherited } = process.env;
  const env: NodeJS.ProcessEnv = { ...inherited, PATH: `${ferryOnPath()}:${process.env.PATH ?? ""}` };
  // http://127.0.0.1:<README port> -> the URL the node really listens on.
  const urls = new Map<string, string>();
  const subst = (text: string): string => [...urls].reduce((t, [from, to]) => t.split(from).join(to), text);
  const printed = new Map<Step, Ran>();

  for (const step of steps) {
    const command = subst(step.command);
    let ran: Ran;
    if (/^ferry serve\b/.test(command)) {
      const port = /--port (\d+)/.exec(command)?.[1];
      if (!port) throw new Error(`README: a serve line without --port: ${command}`);
      const node = await serve(command.replace(`--port ${port}`, "--port 0"), env);
      urls.set(`http://127.0.0.1:${port}`, node.url);
      ran = { code: 0, stdout: node.stdout, stderr: "" };
    } else if (command.startsWith("export ")) {
      for (const pair of command.slice("export ".length).trim().split(/\s+/)) {
        const [name, ...value] = pair.split("=");
        env[name!] = value.join("=");
      }
      ran = { code: 0, stdout: "", stderr: "" };
    } else {
      const assignment = /^([A-Za-z_]\w*)=\$\((.*)\)$/.exec(command);
      ran = await sh(assignment ? assignment[2]! : command, env);
      if (assignment) env[assignment[1]!] = ran.stdout.trim();
    }
    expect(ran.code, `${command}\n${ran.stderr}`).toBe(0);
    for (const shown of step.expected) {
      expect(printedLine(subst(shown), `${ran.stdout}\n${ran.stderr}`), `${command} prints "${shown}":\n${ran.stdout}\n${ran.stderr}`).toBe(
        true,
      );
    }
    printed.set(step, ran);
  }

  // The job ended on the second node, with the value and fuel of the run that never moved.
  const last = (prefix: string): Ran => printed.get(steps.findLast((s) => s.command.startsWith(prefix))!)!;
  const job = JSON.parse(last("ferry status").stdout) as { state: string; node: string; result: { value: number; fuelUsed: number } };
  const local = JSON.parse(last("ferry run").stdout) as { status: string; value: number; fuelUsed: number };
  expect(nodes).toHaveLength(2);
  // The node's own hints name the command as installed, and the README's key file.
  expect(nodes[0]!.stdout).toContain("  ferry keygen --out me.key.json\n");
  expect(nodes[0]!.stdout).not.toMatch(/node bin\/ferry\.js|me\.json/);
  expect(job.node).toBe(nodes[1]!.nodeId);
  expect(job.state).toBe("done");
  expect(local.status).toBe("done");
  expect(Object.is(job.result.value, local.value)).toBe(true);
  expect(job.result.fuelUsed).toBe(local.fuelUsed);

  // Ctrl-C (SIGTERM here) stops each node cleanly.
  for (const n of nodes) n.child.kill("SIGTERM");
  expect(await Promise.all(nodes.map((n) => n.exited))).toEqual([0, 0]);
});

it("the walkthrough's key and data are never committed or packed", async () => {
  const made = ["me.key.json", "ferry.key.json", "cluster/a/ferry.db", "cluster/b/node-key.json"];
  const { stdout } = await promisify(execFile)("git", ["check-ignore", "--no-index", ...made], { cwd: root });
  expect(stdout.trim().split("\n")).toEqual(made);
  // The package's files allow-list names only built code, the command and the docs.
  const { files } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { files: string[] };
  for (const pattern of files) expect(pattern).toMatch(/^(dist\/|bin\/ferry\.js$|docs\/)/);
});
