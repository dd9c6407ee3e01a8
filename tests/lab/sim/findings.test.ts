// The classic load-sharing findings (Eager, Lazowska & Zahorjan 1986), asserted with a fixed seed
// on 20 nodes with the default costs: sender-initiated wins at light to moderate load,
// receiver-initiated at high load, symmetric tracks the better, and polling without a probe limit
// thrashes. Also: MAX and D bound the polls, and no job is lost or run twice.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PolicyKind, PolicyOptions } from "../../../runtime/balance/policy-options.js";
import type { ArrivalPattern } from "../../../lab/sim/sim-config.js";
import { simulate, type SimResult } from "../../../lab/sim/simulator.js";

const run = (kind: PolicyKind, load: number, extra: Partial<PolicyOptions> = {}, jobs = 100_000): SimResult =>
  simulate({ nodes: 20, load, jobs, seed: 1, percentiles: false, policy: { kind, ...extra } });

describe("classic findings", () => {
  const at = new Map<number, Record<"sender" | "receiver" | "symmetric" | "adaptive", SimResult>>();
  for (const load of [0.3, 0.5, 0.9]) {
    at.set(load, {
      sender: run("sender", load),
      receiver: run("receiver", load),
      symmetric: run("symmetric", load),
      adaptive: run("adaptive", load),
    });
  }
  const mean = (load: number, kind: "sender" | "receiver" | "symmetric" | "adaptive"): number => at.get(load)![kind].meanResponse;

  it("sender-initiated beats receiver-initiated at light to moderate load", () => {
    expect(mean(0.3, "sender")).toBeLessThan(mean(0.3, "receiver"));
    expect(mean(0.5, "sender")).toBeLessThan(mean(0.5, "receiver"));
  });

  it("receiver-initiated beats sender-initiated at high load", () => {
    expect(mean(0.9, "receiver")).toBeLessThan(0.8 * mean(0.9, "sender"));
  });

  it("symmetric tracks the better of the two", () => {
    for (const load of [0.3, 0.5, 0.9])
      expect(mean(load, "symmetric")).toBeLessThan(1.05 * Math.min(mean(load, "sender"), mean(load, "receiver")));
  });

  it("adaptive symmetric tracks the better of the two with far fewer polls at light load", () => {
    for (const load of [0.3, 0.5, 0.9])
      expect(mean(load, "adaptive")).toBeLessThan(1.1 * Math.min(mean(load, "sender"), mean(load, "receiver")));
    const perJob = (r: SimResult): number => r.polls / r.completed;
    expect(perJob(at.get(0.3)!.adaptive)).toBeLessThan(0.1 * perJob(at.get(0.3)!.symmetric));
  });

  it("polling without a probe limit thrashes at high load", () => {
    const limited = run("sender", 0.9, {}, 20_000);
    const unlimited = run("sender", 0.9, { maxPolls: Infinity, retryInterval: 0 }, 20_000);
    expect(unlimited.polls / unlimited.completed).toBeGreaterThan(5 * (limited.polls / limited.completed));
    expect(unlimited.meanResponse).toBeGreaterThan(2 * limited.meanResponse);
    expect(unlimited).toMatchObject({ lost: 0, duplicated: 0 });
  });
});

describe("probe limit", () => {
  it("MAX and D bound the polls of idle receivers: at most MAX per D per node", () => {
    const nodes = 10;
    for (const maxPolls of [1, 3]) {
      const r = simulate({ nodes, load: 0.01, jobs: 500, seed: 2, policy: { kind: "receiver", maxPolls, retryInterval: 0.5 } });
      const perNodePerTime = r.polls / (nodes * r.simulatedTime);
      expect(perNodePerTime).toBeLessThanOrEqual(maxPolls / 0.5);
      expect(perNodePerTime).toBeGreaterThan(0.8 * (maxPolls / 0.5)); // idle nodes do keep polling
    }
  });
});

describe("no job lost or run twice", () => {
  it("under random policies, loads, services, skews and probe limits (migration storms included)", () => {
    const policy = fc.record({
      kind: fc.constantFrom<PolicyKind>("none", "sender", "receiver", "symmetric", "adaptive"),
      unlimited: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }),
        fc.double({ min: 0.1, max: 0.95, noNaN: true }),
        policy,
        fc.constantFrom("exp", "pareto", "hyperexp" as const),
        fc.constantFrom<ArrivalPattern>("uniform", "single", [5, 1]),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (nodes, load, p, service, arrivals, seed) => {
          const r = simulate({
            nodes,
            load,
            jobs: 2_000,
            seed,
            service: service as "exp",
            arrivals: Array.isArray(arrivals) ? [...arrivals, ...new Array<number>(nodes - 2).fill(1)] : arrivals,
            policy: p.unlimited ? { kind: p.kind, maxPolls: Infinity, retryInterval: 0 } : { kind: p.kind },
            // Slow links keep many jobs in flight at once.
            costs: { latency: 0.2, bytesPerTime: 1_000_000 },
          });
          return r.lost === 0 && r.duplicated === 0 && r.completed === 2_000;
        },
      ),
      { numRuns: 40, seed: 5 },
    );
  });

  it("running jobs move by strong migration only when service is heavy-tailed", () => {
    const exp = simulate({ nodes: 20, load: 0.8, jobs: 50_000, seed: 1, policy: { kind: "symmetric" } });
    const pareto = simulate({ nodes: 20, load: 0.8, jobs: 50_000, seed: 1, service: "pareto", policy: { kind: "symmetric" } });
    expect(exp.strongTransfers).toBe(0);
    expect(exp.weakTransfers).toBeGreaterThan(0);
    expect(pareto.strongTransfers).toBeGreaterThan(0);
    expect(pareto).toMatchObject({ lost: 0, duplicated: 0 });
  });
});
