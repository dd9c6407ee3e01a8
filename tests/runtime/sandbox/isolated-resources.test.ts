// Resources across the process boundary: an isolated guest's resource calls go to the parent over
// the synchronous host-call channel and give exactly what they give in-process; a child that breaks
// the channel's protocol is killed with a trap, and the host never waits on a child.
import { afterAll, describe, expect, it } from "vitest";
import { Engine, MemoryResources, type Instance, type RunResult, type WasmValue } from "../../../runtime/index.js";
import type { GuestModule } from "../../../runtime/exec/guest-module.js";
import { IsolatedPool } from "../../../runtime/sandbox/isolated/pool.js";
import { type IsolatedInstanceOptions, isolatedPlacement } from "../../helpers/isolated.js";
import type { AsyncResourceHandle, AsyncResourceProvider } from "../../../runtime/resources/provider.js";
import { hostCallViolation, injectHostCallFault, probeIsolation } from "../../../runtime/sandbox/isolated/probe.js";
import { COPY_GUEST } from "../../helpers/fixtures.js";

const engine = new Engine({ maxMemoryPages: 64 });
const pools = { process: new IsolatedPool({ size: 1 }), worker: new IsolatedPool({ size: 1, transport: "worker" }) };
type Where = "in-process" | keyof typeof pools;
const _WHERE: Where[] = ["in-process", "process", "worker"];

afterAll(async () => {
  await Promise.all([pools.process.close(), pools.worker.close(), engine.close()]);
});

async function instance(where: Where, module: GuestModule, options: Omit<IsolatedInstanceOptions, "trust">): Promise<Instance> {
  if (where === "in-process") return engine.instantiate(module, { ...options, trust: "authenticated", sandbox: "in-process" } as never);
  return pools[where].instantiate(module, engine.config, isolatedPlacement({ ...options, trust: "authenticated" }));
}

interface Outcome {
  result: RunResult;
  state: string;
  stored: Record<string, string | undefined>;
}

async function outcome(
  where: Where,
  entry: string,
  args: WasmValue[],
  capabilities: string[],
  initial: Record<string, string> = {},
): Promise<Outcome> {
  const module = await engine.compile(COPY_GUEST);
  const resources = new MemoryResources(initial);
  const i = await instance(where, module, { capabilities, resources });
  try {
    const result = await i.run(entry, args);
    const stored: Record<string, string | undefined> = {};
    for (const name of ["config.json", "reports/daily", "big"]) {
      const v = resources.get(name);
      stored[name] = v && `${new TextDecoder().decode(v.subarray(0, 64))}#${v.byteLength}`;
    }
    return { result, state: i.state, stored };
  } finally {
    i.dispose();
  }
}

describe("same results in-process and isolated (process and worker transports)", () => {
  const cases: Array<[string, string, WasmValue[], string[], Record<string, string>]> = [
    ["granted", "copy", [11, 13], ["config.json:r", "reports/*:w"], { "config.json": '{"limit":3}' }],
    ["not found", "copy", [11, 13], ["config.json:r", "reports/*:w"], {}],
    ["denied: no grant", "copy", [11, 13], [], { "config.json": "x" }],
    ["denied: write not granted", "copy", [11, 13], ["config.json:r", "reports/*:r"], { "config.json": "x" }],
    ["denied: '..' never matches", "escape", [], ["*:r"], { "../secrets": "pw" }],
    ["bad handle", "bad_handle", [], ["*:rw"], {}],
    ["wild pointer (name)", "wild_pointer", [], ["*:rw"], {}],
    ["wild pointer (read buffer)", "wild_read", [], ["*:rw"], { "config.json": "x" }],
    ["too many open handles", "leak_handles", [], ["*:r"], { "config.json": "x" }],
    ["reads and writes longer than one host call (1.5 MiB)", "big", [1_572_864], ["big:rw"], {}],
  ];
  it.each(cases)("%s", async (_name, entry, args, capabilities, initial) => {
    const expected = await outcome("in-process", entry, args, capabilities, initial);
    for (const where of ["process", "worker"] as const) {
      expect({ where, ...(await outcome(where, entry, args, capabilities, initial)) }).toEqual({ where, ...expected });
    }
    // What each case is about, so equal-but-wrong cannot pass.
    const r = expected.result;
    if (_name === "granted") expect(expected.stored["reports/daily"]).toBe('{"limit":3}#11');
    if (_name === "not found") expect(r).toMatchObject({ status: "done", value: -1 });
    if (_name.startsWith("denied")) expect(r).toMatchObject({ status: "trapped", code: "capability_denied" });
    if (_name.startsWith("denied")) expect(expected.stored["reports/daily"]).toBeUndefined();
    if (_name === "bad handle" || _name === "too many open handles") expect(r).toMatchObject({ status: "trapped", code: "host_error" });
    if (_name.startsWith("wild")) expect(r).toMatchObject({ status: "trapped", code: "memory_out_of_bounds" });
    if (entry === "big") expect(r).toMatchObject({ status: "done", value: 1_572_864 + 1000 * (8186 & 255) });
  });
});

/** A provider whose calls wait until the test lets them go: the child blocks meanwhile. */
function gatedProvider(): { provider: AsyncResourceProvider; called: Promise<string>; release: () => void } {
  let markCalled: (name: string) => void = () => {};
  const called = new Promise<string>((r) => (markCalled = r));
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const inner = new MemoryResources({ "config.json": "gated" });
  const provider: AsyncResourceProvider = {
    async open(name, access): Promise<AsyncResourceHandle | undefined> {
      markCalled(name);
      await gate;
      return inner.open(name, access);
    },
  };
  return { provider, called, release };
}

describe.each(["process", "worker"] as const)("the %s transport", (where) => {
  const pool = () => pools[where];

  it("keeps the host responsive while a child is blocked in a host call", async () => {
    const module = await engine.compile(COPY_GUEST);
    const { provider, called, release } = gatedProvider();
    const blocked = await pool().instantiate(
      module,
      engine.config,
      isolatedPlacement({
        trust: "authenticated",
        capabilities: ["*:rw"],
        resources: provider,
      }),
    );
    const running = blocked.run("copy", [11, 13]);
    expect(await called).toBe("config.json");
    // The child waits for its answer; the host's loop turns, and another child serves another guest.
    await new Promise((r) => setTimeout(r, 20));
    const other = await pool().instantiate(
      module,
      engine.config,
      isolatedPlacement({
        trust: "authenticated",
        capabilities: ["*:rw"],
        resources: new MemoryResources(),
      }),
    );
    expect(await other.run("copy", [11, 13])).toMatchObject({ status: "done", value: -1 });
    other.dispose();
    expect(blocked.state).toBe("running");
    release();
    expect(await running).toMatchObject({ status: "done", value: 5 });
    blocked.dispose();
  });

  it("ends a child blocked in a host call on dispose (disposed) and on its deadline (deadline_exceeded)", async () => {
    const module = await engine.compile(COPY_GUEST);
    const a = gatedProvider();
    const disposed = await pool().instantiate(
      module,
      engine.config,
      isolatedPlacement({
        trust: "authenticated",
        capabilities: ["*:rw"],
        resources: a.provider,
      }),
    );
    const run = disposed.run("copy", [11, 13]);
    await a.called;
    disposed.dispose();
    expect(await run).toMatchObject({ status: "trapped", code: "disposed" });
    const b = gatedProvider();
    const late = await pool().instantiate(
      module,
      engine.config,
      isolatedPlacement({
        trust: "authenticated",
        capabilities: ["*:rw"],
        resources: b.provider,
        timeoutMs: 300,
      }),
    );
    expect(await late.run("copy", [11, 13])).toMatchObject({ status: "trapped", code: "deadline_exceeded" });
    a.release();
    b.release();
  });

  it.each(["garbage", "oversized"] as const)(
    "kills a child that sends %s on the channel (host_error), and the pool recovers",
    async (fault) => {
      const module = await engine.compile(COPY_GUEST);
      const replacedBefore = pool().stats().replaced;
      const resources = new MemoryResources({ "config.json": "x" });
      const bad = await pool().instantiate(
        module,
        engine.config,
        isolatedPlacement({ trust: "authenticated", capabilities: ["*:rw"], resources }),
      );
      await injectHostCallFault(bad, fault);
      expect(await bad.run("copy", [11, 13])).toMatchObject({ status: "trapped", code: "host_error" });
      expect(bad.state).toBe("trapped");
      expect(hostCallViolation(bad)).toMatch(fault === "garbage" ? /malformed/ : /frame of/);
      expect(resources.get("reports/daily")).toBeUndefined();
      await expect(bad.run("copy", [11, 13])).rejects.toMatchObject({ code: "instance_finished" });
      // A fresh instance (on a fresh child) works.
      const good = await pool().instantiate(
        module,
        engine.config,
        isolatedPlacement({ trust: "authenticated", capabilities: ["*:rw"], resources }),
      );
      expect(await good.run("copy", [11, 13])).toMatchObject({ status: "done", value: 1 });
      good.dispose();
      const deadline = Date.now() + 10_000;
      while (pool().stats().replaced <= replacedBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(pool().stats().replaced).toBe(replacedBefore + 1);
    },
  );
});

describe("through the engine", () => {
  it("runs an authenticated guest with capabilities isolated by default; anonymous + capabilities is still refused", async () => {
    const e = new Engine({ maxMemoryPages: 64, isolated: { size: 0 } });
    try {
      const module = await e.compile(COPY_GUEST);
      const resources = new MemoryResources({ "config.json": "abc" });
      const i = await e.instantiate(module, { trust: "authenticated", capabilities: ["config.json:r", "reports/*:w"], resources });
      expect(i.sandbox).toBe("isolated");
      expect(await i.run("copy", [11, 13])).toMatchObject({ status: "done", value: 3 });
      expect(new TextDecoder().decode(resources.get("reports/daily"))).toBe("abc");
      i.dispose();
      await expect(e.instantiate(module, { trust: "anonymous", sandbox: "isolated", capabilities: ["x:r"] })).rejects.toMatchObject({
        code: "invalid_option",
      });
      await expect(e.instantiate(module, { trust: "authenticated", capabilities: ["bad"] })).rejects.toMatchObject({
        code: "invalid_option",
      });
    } finally {
      await e.close();
    }
  });
});

describe("the permission model and the channel", () => {
  it("lets the child use its inherited channel fds but not reopen them, or anything else, by path", async () => {
    const module = await engine.compile(COPY_GUEST);
    const i = await pools.process.instantiate(
      module,
      engine.config,
      isolatedPlacement({
        trust: "authenticated",
        capabilities: ["*:r"],
        resources: new MemoryResources({ "config.json": "ok" }),
      }),
    );
    const report = await probeIsolation(i, "/tmp/ferry-should-not-exist");
    expect(report.hostChannel).toEqual({
      fstatRequestFd: "allowed",
      fstatAnswerFd: "allowed",
      openProcFd: "ERR_ACCESS_DENIED",
      openDevFd: "ERR_ACCESS_DENIED",
    });
    expect(report.attempts.readFile).toBe("ERR_ACCESS_DENIED");
    expect(report.attempts.writeFile).toBe("ERR_ACCESS_DENIED");
    // …and the channel itself works under it (readSync/writeSync on fds 5 and 4).
    expect(await i.run("copy", [11, 13])).toMatchObject({ status: "trapped", code: "capability_denied" });
    i.dispose();
  });
});
