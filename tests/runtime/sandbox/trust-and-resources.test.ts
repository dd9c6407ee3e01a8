// Trust classes and the capability-checked host interface: anonymous code is pure computation;
// authenticated code binds only the resources its capabilities grant.
import { describe, expect, it } from "vitest";
import { Engine, FerryError, MemoryResources, parseCapability, CapabilitySet } from "../../../runtime/index.js";
import { COPY_GUEST } from "../../helpers/fixtures.js";
import { wat } from "../../helpers/wat.js";
import { codeOf, refusal } from "../../helpers/errors.js";

/** A refused option: `invalid_option`, with a message naming it. */
const option = (names: RegExp) => ({ code: "invalid_option", message: expect.stringMatching(names) });

const engine = new Engine();

describe("trust classes", () => {
  it("refuses to run resource-importing code anonymously, naming the import", async () => {
    const m = await engine.compile(COPY_GUEST);
    await expect(engine.instantiate(m)).rejects.toMatchObject({ code: "import_not_allowed" });
    expect(await refusal(engine.instantiate(m, { trust: "anonymous" }))).toMatchObject({
      code: "import_not_allowed",
      message: expect.stringMatching(/resource_open.*authenticated/),
    });
  });

  it("validates placement options up front, naming the option", async () => {
    const m = await engine.compile(wat(`(module (func (export "main") (result i32) (i32.const 1)))`));
    expect(await codeOf(engine.instantiate(m, { trust: "root" as never }))).toBe("invalid_option");
    expect(await codeOf(engine.instantiate(m, { sandbox: "vm" as never }))).toBe("invalid_option");
    expect(await refusal(engine.instantiate(m, { timeoutMs: 100 }))).toMatchObject(option(/timeoutMs.*isolated/));
    expect(await refusal(engine.instantiate(m, { sandbox: "isolated", timeoutMs: -1 }))).toMatchObject(option(/timeoutMs/));
    expect(await refusal(engine.instantiate(m, { capabilities: ["x:r"] }))).toMatchObject(option(/authenticated/));
    expect(await refusal(engine.instantiate(m, { trust: "authenticated", sandbox: "in-process", capabilities: ["bad"] }))).toMatchObject(
      option(/capability "bad"/),
    );
  });

  it("places anonymous code in-process by default", async () => {
    const m = await engine.compile(wat(`(module (func (export "main") (result i32) (i32.const 1)))`));
    const i = await engine.instantiate(m);
    expect(i.sandbox).toBe("in-process");
    expect(i.trust).toBe("anonymous");
  });
});

describe("capability-checked resources", () => {
  const authenticated = (capabilities: string[], resources: MemoryResources) =>
    ({ trust: "authenticated", sandbox: "in-process", capabilities, resources }) as const;

  it("reads and writes granted resources", async () => {
    const m = await engine.compile(COPY_GUEST);
    const resources = new MemoryResources({ "config.json": '{"limit":3}' });
    const i = await engine.instantiate(m, authenticated(["config.json:r", "reports/*:w"], resources));
    expect(await i.run("copy", [11, 13])).toMatchObject({ status: "done", value: 11 });
    expect(new TextDecoder().decode(resources.get("reports/daily"))).toBe('{"limit":3}');
  });

  it("returns not-found for a granted name that does not exist", async () => {
    const m = await engine.compile(COPY_GUEST);
    const i = await engine.instantiate(m, authenticated(["config.json:r", "reports/*:w"], new MemoryResources()));
    expect(await i.run("copy", [11, 13])).toMatchObject({ status: "done", value: -1 });
  });

  it.each([
    ["no grant at all", [] as string[]],
    ["read granted, write not", ["config.json:r"]],
    ["write to another prefix only", ["config.json:r", "logs/*:w"]],
    ["read-only grant on the target", ["config.json:r", "reports/*:r"]],
  ])("traps capability_denied with %s, and writes nothing", async (_name, capabilities) => {
    const m = await engine.compile(COPY_GUEST);
    const resources = new MemoryResources({ "config.json": "x" });
    const i = await engine.instantiate(m, authenticated(capabilities, resources));
    expect(await i.run("copy", [11, 13])).toMatchObject({ status: "trapped", code: "capability_denied" });
    expect(resources.get("reports/daily")).toBeUndefined();
  });

  it("never lets '..' escape a prefix grant", async () => {
    const m = await engine.compile(COPY_GUEST);
    const i = await engine.instantiate(m, authenticated(["*:r"], new MemoryResources({ "../secrets": "pw" })));
    expect(await i.run("escape")).toMatchObject({ status: "trapped", code: "capability_denied" });
  });

  it("traps bad handles and wild pointers instead of touching host state", async () => {
    const m = await engine.compile(COPY_GUEST);
    const grant = authenticated(["*:rw"], new MemoryResources());
    expect(await (await engine.instantiate(m, grant)).run("bad_handle")).toMatchObject({ status: "trapped", code: "host_error" });
    expect(await (await engine.instantiate(m, grant)).run("wild_pointer")).toMatchObject({
      status: "trapped",
      code: "memory_out_of_bounds",
    });
  });

  it("parses capabilities strictly", () => {
    expect(parseCapability("reports/*:rw")).toEqual({ resource: "reports/*", access: ["read", "write"] });
    for (const bad of ["", "x", ":r", "x:", "x:rx", "a b:r", "x*y:r"]) expect(() => parseCapability(bad)).toThrow(FerryError);
    const set = new CapabilitySet(["reports/*:w", "config.json:r"]);
    expect(set.allows("reports/a", ["write"])).toBe(true);
    expect(set.allows("reports/a", ["read"])).toBe(false);
    expect(set.allows("config.json", ["read", "write"])).toBe(false);
    expect(set.allows("config.jsonx", ["read"])).toBe(false);
  });
});
