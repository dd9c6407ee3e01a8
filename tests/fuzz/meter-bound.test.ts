// The fuzzer's stop bound (fuzz/meter-bound.ts): a stop may pass its fuel by meterBound plus the
// last host call's or memory.grow's charge (docs/metering.md), taken at its largest for the module
// and priced by the runtime's own functions. A module with neither gets no allowance at all, so a
// bulk-memory overrun is never hidden behind one.
import { describe, expect, it } from "vitest";
import { bulkMemory, hostCalls, memoryGrow } from "../../fuzz/hostile-shapes.js";
import { overBound, stopBound } from "../../fuzz/meter-bound.js";
import { GROW_BYTES_PER_FUEL_LOG2 } from "../../runtime/code/meter-helpers.js";
import { MAX_LOG_LINE_BYTES, hostCallFuel } from "../../runtime/host/index.js";
import { MAX_HOST_IO_BYTES } from "../../runtime/limits.js";

const BOUND = 1_000;
const CAP = 300;

describe("fuzz stop bound", () => {
  it("gives bulk memory no allowance: a stop past fuel + meterBound is reported", () => {
    const b = stopBound(BOUND, bulkMemory({ op: "fill", bytes: 1 << 20, count: 3, repeat: "straight" }).bytes, CAP);
    expect([b.hostCharge, b.growCharge()]).toEqual([0, 0]);
    expect(overBound(b, 5, 5 + BOUND)).toBeUndefined();
    expect(overBound(b, 5, 6 + BOUND)).toMatch(/over 5 \+ meterBound 1000 \+ one charge 0/);
  });

  it("allows one host call moving the most a call may move", () => {
    const input = stopBound(BOUND, hostCalls({ call: "input", bytes: 4 << 20, count: 2, repeat: "loop" }).bytes, CAP);
    expect(input.hostCharge).toBe(hostCallFuel(MAX_HOST_IO_BYTES));
    const log = stopBound(BOUND, hostCalls({ call: "log", bytes: 8, count: 2, repeat: "loop" }).bytes, CAP);
    expect(log.hostCharge).toBe(hostCallFuel(MAX_LOG_LINE_BYTES));
    expect(overBound(input, 1, 1 + BOUND + input.hostCharge)).toBeUndefined();
    expect(overBound(input, 1, 2 + BOUND + input.hostCharge)).toBeDefined();
  });

  it("allows one memory.grow to the memory's reachable size, only for code that grows", () => {
    const b = stopBound(BOUND, memoryGrow({ count: 4, delta: 1, repeat: "loop" }).bytes, CAP);
    expect(b.growCharge()).toBe((CAP * 65_536) >> GROW_BYTES_PER_FUEL_LOG2);
    expect(overBound(b, 1, 1 + BOUND + b.growCharge())).toBeUndefined();
  });
});
