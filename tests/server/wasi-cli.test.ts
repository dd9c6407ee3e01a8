// `ferry submit` for WASI programs, a real child process of the built CLI against a node over HTTP:
// `-- ARGS`, `--env`, `--dir RESOURCE[:GUEST]`, `--dir-ro`, `--scratch`, and the node's refusals
// printed as one line with the documented status.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { programWasmPath, wordText } from "../../guest/programs/catalog.js";
import { writeKeyFile } from "../../server/auth/index.js";
import { ferry } from "../helpers/cli.js";
import { removeDir, startTestNode, tempDir, type TestNode } from "../helpers/node.js";

const dir = tempDir("nodewasi-cli-");
const keyFile = join(dir, "me.json");
let n: TestNode;
let lz: string;
let hello: string;

beforeAll(async () => {
  n = await startTestNode({ capabilities: ["in/*:r", "out/*:rw"], sharedModuleCache: true });
  writeKeyFile(keyFile, n.key);
  lz = (await n.client.uploadModule(readFileSync(programWasmPath("c-lz")))).codeHash;
  hello = (await n.client.uploadModule(readFileSync(programWasmPath("c-hello")), { public: true })).codeHash;
});
afterAll(async () => {
  await n?.close();
  if (n) removeDir(n.dataDir);
  removeDir(dir);
});

/** `--node` goes before `--`: what follows it is the program's. */
const at = (...args: string[]): string[] => {
  const dash = args.indexOf("--");
  return dash < 0 ? [...args, "--node", n.running.url] : [...args.slice(0, dash), "--node", n.running.url, ...args.slice(dash)];
};

describe("ferry submit for WASI programs", () => {
  it("passes argv, the environment and directories, and exits by how the job ended", async () => {
    const root = join(n.dataDir, "resources", n.key.clientId);
    mkdirSync(join(root, "in"), { recursive: true });
    writeFileSync(join(root, "in", "words.txt"), wordText(20_000, 4));
    const ran = await ferry(
      at(
        "submit",
        lz,
        "--key",
        keyFile,
        "--wait",
        "30000",
        "--dir-ro",
        "in",
        "--dir",
        "out:/o",
        "--scratch",
        "/tmp",
        "--dir-migrate",
        "/o=move",
        "--dir-migrate",
        "/in=copy",
        "--",
        "/in/words.txt",
        "/o/w.lz",
      ),
    );
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    const view = JSON.parse(ran.stdout) as { state: string; wasi: unknown };
    expect(view.state).toBe("done");
    expect(view.wasi).toEqual({
      args: ["/in/words.txt", "/o/w.lz"],
      env: {},
      dirs: [
        { guest: "/o", resource: "out", access: "rw", migrate: "move", binding: "identifier" },
        { guest: "/in", resource: "in", access: "r", migrate: "copy", binding: "value" },
        { guest: "/tmp", scratch: true },
      ],
    });
    expect(readFileSync(join(root, "out", "w.lz")).byteLength).toBeGreaterThan(0);

    const greeted = await ferry(at("submit", hello, "--wait", "30000", "--env", "GREETING=hi", "--", "a", "b"));
    expect(JSON.parse(greeted.stdout)).toMatchObject({
      state: "done",
      result: { exitCode: 2 },
      wasi: { args: ["a", "b"], env: { GREETING: "hi" } },
    });
  });

  it("prints the node's refusal: a directory without a capability, an anonymous resource directory, a bad --env", async () => {
    const denied = await ferry(at("submit", lz, "--key", keyFile, "--dir", "secrets", "--", "x"));
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain("secrets/*:rw");
    const anonymous = await ferry(at("submit", hello, "--dir", "in"));
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toContain("scratch");
    const badEnv = await ferry(at("submit", hello, "--env", "NOEQUALS"));
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toContain("NAME=VALUE");
    const badAction = await ferry(at("submit", hello, "--dir", "in", "--dir-migrate", "/in=teleport"));
    expect(badAction.code).toBe(2);
    expect(badAction.stderr).toContain("global-reference, move, copy, rebind");
    const noSuchDir = await ferry(at("submit", hello, "--dir", "in", "--dir-migrate", "/out=move"));
    expect(noSuchDir.code).toBe(2);
    expect(noSuchDir.stderr).toContain('no --dir or --dir-ro is seen as "/out"');
    // One action per directory.
    const fixed = await ferry(
      at("submit", lz, "--key", keyFile, "--dir", "out:/o", "--dir-migrate", "/o=rebind", "--dir-migrate", "/o=move"),
    );
    expect(fixed.code).toBe(2);
    expect(fixed.stderr).toContain("given twice");
  });
});
