// Call-free loops keep their running fuel in a local and write it to the global only where control
// leaves them. The reference is the same pipeline storing every iteration (`eagerLoopFuel`): for
// every example guest and every way out of a loop, both must charge exactly the same fuel, whole
// and cut into slices, and give the same results.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { smallCases } from "../../../guest/catalog.js";
import { instrument } from "../../../runtime/code/instrument.js";
import { GuestInstance } from "../../../runtime/exec/guest-instance.js";
import { GuestModule } from "../../../runtime/exec/guest-module.js";
import { Engine, normalizePlacement, type RunResult } from "../../../runtime/index.js";
import { LOOP_EXITS } from "../../helpers/fixtures.js";
import { runToEnd } from "../../helpers/wat.js";

const engine = new Engine();

async function build(bytes: Uint8Array, eagerLoopFuel: boolean): Promise<GuestModule> {
  return new GuestModule(await instrument(bytes, { metering: true, asyncify: true, limits: engine.config.limits, eagerLoopFuel }));
}

async function run(module: GuestModule, entry: string, args: number[], input: Uint8Array | undefined, slice?: number): Promise<RunResult> {
  const i = new GuestInstance(module, engine.config, normalizePlacement({ sandbox: "in-process", input }));
  const options = slice === undefined ? {} : { fuel: slice };
  const { result } = await runToEnd(i.run(entry, args, options), () => i.resume(options));
  return result;
}

async function expectSameFuel(bytes: Uint8Array, entry: string, args: number[], input?: Uint8Array): Promise<void> {
  const lazy = await build(bytes, false);
  const eager = await build(bytes, true);
  for (const slice of [undefined, 97, 5_000]) {
    const a = await run(lazy, entry, args, input, slice);
    const b = await run(eager, entry, args, input, slice);
    expect(a.status).toBe("done");
    expect(a).toEqual(b);
  }
}

describe("fuel written back on loop exits", () => {
  it.each(smallCases().filter((c) => c.style === "transparent"))("charges $name exactly as storing every iteration", async (c) => {
    await expectSameFuel(new Uint8Array(readFileSync(c.wasmPath)), c.entry, c.args, c.input);
  });

  it.each(["nested", "switch", "returns", "falls", "fills"])(
    "charges a loop left by %s exactly as storing every iteration",
    async (entry) => {
      await expectSameFuel(LOOP_EXITS, entry, [150]);
    },
  );
});
