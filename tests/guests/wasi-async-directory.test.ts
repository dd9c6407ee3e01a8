// Real WASI programs over an AsyncDirectory (asynchronous host calls, docs/resource-segment.md):
// every file call unwinds the guest, the test answers it when it chooses (a deferred promise, never
// a timer), and the rewind hands the answer in. The output, the files written and the fuel used
// must be those of the same program over the synchronous directory — run straight, snapshotted
// while a call is pending (encoded, decoded, restored in a fresh instance that starts the call
// again), in-process and in a child process.
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { programWasmPath, wordText } from "../../guest/programs/catalog.js";
import {
  decodeSnapshot,
  Engine,
  encodeSnapshot,
  type Instance,
  MemoryDirectory,
  type RunResult,
  type SandboxKind,
} from "../../runtime/index.js";
import { GatedDirectory } from "../helpers/gated-directory.js";
import { until } from "../helpers/until.js";

interface Program {
  name: string;
  args: string[];
  guestPath: string;
  files: Record<string, Uint8Array | string>;
}

const PROGRAMS: Program[] = [
  { name: "c-lz", args: ["/data/words.txt", "/data/words.lz"], guestPath: "/data", files: { "words.txt": wordText(6_000, 7) } },
  { name: "c-walk", args: ["/t"], guestPath: "/t", files: { "a/one.txt": "1", "a/b/two.txt": "22", "three.txt": "333" } },
];

interface Outcome {
  result: RunResult;
  stdout: string;
  stderr: string;
  tree: unknown;
}

const engine = new Engine();
afterAll(() => engine.close());

async function compile(p: Program) {
  return engine.compile(readFileSync(programWasmPath(p.name)));
}

function options(p: Program, sandbox: SandboxKind, logs: string[], dir: { sync?: MemoryDirectory; async?: GatedDirectory }) {
  return {
    sandbox,
    trust: "authenticated" as const,
    onLog: (line: string) => logs.push(line),
    wasi: {
      program: p.name,
      args: p.args,
      dirs: { [p.guestPath]: (dir.sync ?? dir.async)! },
    },
  };
}

function outcome(instance: Instance, result: RunResult, logs: string[], tree: MemoryDirectory): Outcome {
  return {
    result,
    stdout: new TextDecoder().decode(instance.output()),
    stderr: logs.join("\n"),
    tree: tree.snapshotTree(),
  };
}

async function synchronous(p: Program): Promise<Outcome> {
  const tree = new MemoryDirectory({ files: p.files, now: () => 0n });
  const logs: string[] = [];
  const instance = await engine.instantiate(await compile(p), options(p, "in-process", logs, { sync: tree }));
  const r = await instance.run("_start");
  expect(r.status).toBe("done");
  return outcome(instance, r, logs, tree);
}

/**
 * Over a gated directory: every pause is an awaited call; answered when the test says. With
 * `moves`, at an await pause the instance is snapshotted (call pending), encoded, decoded and
 * restored in a fresh instance of the next sandbox, whose rewind starts the call again.
 */
async function gated(p: Program, moves?: SandboxKind[]): Promise<Outcome & { awaits: number; moved: number; started: number }> {
  const tree = new MemoryDirectory({ files: p.files, now: () => 0n });
  const gate = new GatedDirectory(tree);
  const logs: string[] = [];
  const module = await compile(p);
  let instance: Instance = await engine.instantiate(module, options(p, moves?.[0] ?? "in-process", logs, { async: gate }));
  let r = await instance.run("_start");
  let awaits = 0;
  let moved = 0;
  let movedAt = -1;
  while (r.status === "paused") {
    expect(r.reason).toBe("await");
    awaits++;
    expect(awaits).toBeLessThan(10_000);
    await until(() => gate.waiting.length > 0, "the awaited call to reach the directory");
    // Only once the guest has moved on since the last move: a call that awaits several times (a file
    // reopened after a restore, then read into two iovecs) restarts from its first await after a
    // restore, so a move at each of its awaits would never let it finish. Within one call the fuel
    // stands still (an invocation that unwinds to await is not charged).
    if (moves && r.fuelUsed > movedAt) {
      movedAt = r.fuelUsed;
      moved++;
      const bytes = encodeSnapshot(await instance.snapshot({ move: true }));
      // The call pending at the old instance is answered to nobody: the restored one asks again.
      gate.releaseAll();
      instance = await engine.restore(decodeSnapshot(bytes), options(p, moves[moved % moves.length]!, logs, { async: gate }));
      r = await instance.resume();
      if (r.status !== "paused") break;
      expect(r.reason).toBe("await");
      await until(() => gate.waiting.length > 0, "the restored instance to ask again");
    }
    gate.releaseAll();
    await instance.settled();
    r = await instance.resume();
  }
  const o = outcome(instance, r, logs, tree);
  instance.dispose();
  return { ...o, awaits, moved, started: gate.started.length };
}

describe.each(PROGRAMS)("$name over an asynchronous directory", (p) => {
  let reference: Promise<Outcome> | undefined;
  const expected = (): Promise<Outcome> => (reference ??= synchronous(p));

  it("gives the output, files and fuel of the synchronous directory, awaiting every file call", async () => {
    const o = await gated(p);
    const { result, ...rest } = await expected();
    expect(o.result).toEqual(result);
    expect({ stdout: o.stdout, stderr: o.stderr, tree: o.tree }).toEqual(rest);
    expect(o.awaits).toBeGreaterThanOrEqual(5);
    expect(o.started).toBe(o.awaits);
  });

  it("snapshotted while a call is pending, restored in a fresh instance, in-process", async () => {
    const o = await gated(p, ["in-process"]);
    const e = await expected();
    expect({ stdout: o.stdout, stderr: o.stderr, tree: o.tree, status: o.result.status }).toEqual({
      stdout: e.stdout,
      stderr: e.stderr,
      tree: e.tree,
      status: "done",
    });
    // Each restore starts its pending call again.
    expect(o.moved).toBeGreaterThanOrEqual(5);
    expect(o.started).toBeGreaterThan(o.awaits);
  });

  it("snapshotted while a call is pending, moved between a child process and this one", async () => {
    const o = await gated(p, ["isolated", "in-process"]);
    const e = await expected();
    expect({ stdout: o.stdout, stderr: o.stderr, tree: o.tree, status: o.result.status }).toEqual({
      stdout: e.stdout,
      stderr: e.stderr,
      tree: e.tree,
      status: "done",
    });
  });

  it("in a child process throughout: the child awaits, its event loop free", async () => {
    const tree = new MemoryDirectory({ files: p.files, now: () => 0n });
    const gate = new GatedDirectory(tree);
    const logs: string[] = [];
    const instance = await engine.instantiate(await compile(p), options(p, "isolated", logs, { async: gate }));
    let r = await instance.run("_start");
    let awaits = 0;
    while (r.status === "paused") {
      expect(r.reason).toBe("await");
      awaits++;
      await until(() => gate.waiting.length > 0, "the awaited call to reach the parent's directory");
      gate.releaseAll();
      r = await instance.resume();
    }
    const o = outcome(instance, r, logs, tree);
    instance.dispose();
    const e = await expected();
    expect(o).toEqual(e);
    expect(awaits).toBeGreaterThanOrEqual(5);
  });
});
