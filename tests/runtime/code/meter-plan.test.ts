// The metering plan's invariant, checked from outside on random call graphs: with the functions it
// marks checked, no function can do more than its own size plus SPAN_FUEL of work before a check
// (W recomputed here independently), and every function on a cycle checks.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { planChecks, SPAN_FUEL, type CallGraphFunction } from "../../../runtime/code/meter-plan.js";

/** W(f) from the definition, given the checked set: unchecked callees add their own W per site. */
function spans(functions: CallGraphFunction[], table: Set<string>, checked: Set<string>): Map<string, number> {
  const byName = new Map(functions.map((f) => [f.name, f]));
  const memo = new Map<string, number>();
  const visiting = new Set<string>();
  const w = (name: string): number => {
    if (memo.has(name)) return memo.get(name)!;
    // Reaching a function again without passing a checked one would be unbounded work.
    if (visiting.has(name)) throw new Error(`unchecked cycle through ${name}`);
    visiting.add(name);
    const f = byName.get(name)!;
    let total = f.size;
    const weight = (callee: string) => (checked.has(callee) ? 0 : w(callee));
    for (const [callee, sites] of f.calls) if (byName.has(callee)) total += sites * weight(callee);
    if (f.indirectCalls > 0) {
      let heaviest = 0;
      for (const t of table) if (byName.has(t)) heaviest = Math.max(heaviest, weight(t));
      total += f.indirectCalls * heaviest;
    }
    visiting.delete(name);
    memo.set(name, total);
    return total;
  };
  for (const f of functions) w(f.name);
  return memo;
}

const graph = fc
  .integer({ min: 1, max: 40 })
  .chain((n) =>
    fc.record({
      functions: fc.tuple(
        ...Array.from({ length: n }, (_, i) =>
          fc.record({
            size: fc.integer({ min: 1, max: 3_000 }),
            calls: fc.array(fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 1, max: 4 })), { maxLength: 5 }),
            indirectCalls: fc.integer({ min: 0, max: 2 }),
            inTable: fc.boolean(),
            index: fc.constant(i),
          }),
        ),
      ),
    }),
  )
  .map(({ functions }) => {
    const list: CallGraphFunction[] = functions.map((f) => ({
      name: `f${f.index}`,
      size: f.size,
      calls: new Map(f.calls.map(([to, sites]) => [`f${to}`, sites] as [string, number])),
      indirectCalls: f.indirectCalls,
    }));
    const table = new Set(functions.filter((f) => f.inTable).map((f) => `f${f.index}`));
    return { list, table };
  });

describe("metering plan", () => {
  it("bounds every function's unchecked work by its size plus SPAN_FUEL, on random call graphs", () => {
    fc.assert(
      fc.property(graph, ({ list, table }) => {
        const plan = planChecks(list, table);
        const w = spans(list, table, plan.checked);
        for (const f of list) expect(w.get(f.name)!).toBeLessThanOrEqual(f.size + SPAN_FUEL);
        for (const r of plan.recursive) expect(plan.checked.has(r)).toBe(true);
        expect(plan.indirectChecked).toBe([...table].some((t) => plan.checked.has(t)));
      }),
      { numRuns: 300, seed: 8 },
    );
  });

  it("stops a chain that doubles at every level with a few checks, not one per function", () => {
    // f0 calls f1 twice, f1 calls f2 twice, …: 2^60 calls unchecked.
    const n = 60;
    const list: CallGraphFunction[] = Array.from({ length: n }, (_, i) => ({
      name: `f${i}`,
      size: 3,
      calls: i + 1 < n ? new Map([[`f${i + 1}`, 2]]) : new Map(),
      indirectCalls: 0,
    }));
    const plan = planChecks(list, new Set());
    const w = spans(list, new Set(), plan.checked);
    expect(Math.max(...w.values())).toBeLessThanOrEqual(3 + SPAN_FUEL);
    expect(plan.checked.size).toBeGreaterThan(0);
    expect(plan.checked.size).toBeLessThan(n / 4);
  });

  it("sees through call_indirect: a doubling chain through a table is bounded too", () => {
    // Every function calls indirectly twice; the table holds all of them except the caller of all.
    const n = 30;
    const list: CallGraphFunction[] = Array.from({ length: n }, (_, i) => ({
      name: `f${i}`,
      size: 2,
      calls: new Map(),
      indirectCalls: i === 0 ? 2 : 0,
    }));
    // f1..f(n-1) form a direct doubling chain reachable through the table.
    for (let i = 1; i + 1 < n; i++) list[i]!.calls.set(`f${i + 1}`, 2);
    const table = new Set(list.slice(1).map((f) => f.name));
    const plan = planChecks(list, table);
    const w = spans(list, table, plan.checked);
    expect(w.get("f0")!).toBeLessThanOrEqual(2 + SPAN_FUEL);
  });

  it("checks every function on a cycle, including cycles through the table", () => {
    const list: CallGraphFunction[] = [
      { name: "a", size: 1, calls: new Map([["b", 1]]), indirectCalls: 0 },
      { name: "b", size: 1, calls: new Map(), indirectCalls: 1 },
      { name: "c", size: 1, calls: new Map(), indirectCalls: 0 },
    ];
    const plan = planChecks(list, new Set(["a"]));
    expect([...plan.recursive].sort()).toEqual(["a", "b"]);
    expect(plan.checked.has("c")).toBe(false);
  });
});
