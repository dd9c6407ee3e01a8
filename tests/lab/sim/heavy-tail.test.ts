// Harchol-Balter & Downey's finding, reproduced at a small seeded size on time-sharing nodes with
// moves that cost about a mean job (--costs costly): with Pareto (α = 1) service, preemptive
// migration of old jobs gives a clearly lower mean slowdown than placing new jobs only; with
// exponential service it does not (age says nothing there). Also: the time-sharing nodes alone are
// M/G/1-PS (mean slowdown 1/(1 − ρ) whatever the service), and no job is lost or run twice.
import { describe, expect, it } from "vitest";
import { boundedPareto, exponential, hyperexponential, type ServiceDistribution } from "../../../lab/sim/distributions.js";
import { COSTLY_SIM_COSTS } from "../../../lab/sim/sim-config.js";
import { simulate } from "../../../lab/sim/simulator.js";
import { type SharingRule, simulateTimeSharing } from "../../../lab/sim/ts-simulator.js";

const LOADS = [0.7, 0.8, 0.9];
const run = (rule: SharingRule, service: ServiceDistribution, load: number) =>
  simulateTimeSharing({ rule, nodes: 20, load, jobs: 30_000, seed: 1, service, costs: COSTLY_SIM_COSTS });

describe("preemptive migration against placement only (20 nodes, 30,000 jobs, seed 1, costly moves)", () => {
  it("with Pareto α = 1 service, preemptive cuts mean slowdown by more than 10% at loads 0.7–0.9", () => {
    for (const load of LOADS) {
      const placement = run("placement", boundedPareto(1), load);
      const preemptive = run("preemptive", boundedPareto(1), load);
      expect(preemptive.meanSlowdown / placement.meanSlowdown).toBeLessThan(0.9);
      expect(preemptive.strongTransfers).toBeGreaterThan(0);
      expect(placement.strongTransfers).toBe(0);
      for (const r of [placement, preemptive]) expect(r).toMatchObject({ lost: 0, duplicated: 0, completed: 30_000 });
    }
  });

  it("with exponential service, it does not: within 7% of placement or worse", () => {
    for (const load of LOADS) {
      const placement = run("placement", exponential(), load);
      const preemptive = run("preemptive", exponential(), load);
      expect(preemptive.meanSlowdown / placement.meanSlowdown).toBeGreaterThan(0.93);
      expect(preemptive).toMatchObject({ lost: 0, duplicated: 0 });
    }
  });

  it("is deterministic for a seed", () => {
    expect(run("preemptive", boundedPareto(1), 0.8)).toEqual(run("preemptive", boundedPareto(1), 0.8));
  });
});

describe("time-sharing nodes", () => {
  it("alone are M/G/1 processor sharing: mean response and mean slowdown 1/(1 − ρ), for exp and H2 alike", () => {
    for (const service of [exponential(), hyperexponential(4)]) {
      const r = simulateTimeSharing({ rule: "none", nodes: 10, load: 0.5, jobs: 200_000, seed: 3, service, percentiles: false });
      expect(r.meanSlowdown).toBeGreaterThan(2 * 0.96);
      expect(r.meanSlowdown).toBeLessThan(2 * 1.04);
      expect(r.meanResponse).toBeGreaterThan(2 * 0.96);
      expect(r.meanResponse).toBeLessThan(2 * 1.04);
    }
  });

  it("report p99 slowdown and response at or above their means", () => {
    const r = run("preemptive", hyperexponential(10), 0.8);
    expect(r.p99Slowdown).toBeGreaterThan(r.meanSlowdown);
    expect(r.p99Response).toBeGreaterThan(r.meanResponse);
  });
});

describe("the same rules on FCFS nodes (the live cluster's kind)", () => {
  const fcfs = (migration: "placement" | "preemptive", service: ServiceDistribution, nodes: number) =>
    simulate({
      nodes,
      load: 0.7,
      jobs: 30_000,
      seed: 1,
      service,
      migration,
      policy: { kind: "sender" },
      percentiles: false,
      costs: COSTLY_SIM_COSTS,
    });

  it("with 20 nodes and costly moves, moving the old running job cuts Pareto slowdown several-fold and does not help exponential", () => {
    expect(fcfs("preemptive", boundedPareto(1), 20).meanSlowdown / fcfs("placement", boundedPareto(1), 20).meanSlowdown).toBeLessThan(0.6);
    expect(fcfs("preemptive", exponential(), 20).meanSlowdown / fcfs("placement", exponential(), 20).meanSlowdown).toBeGreaterThan(0.95);
  });

  it("rejects an unknown rule with a typed error", () => {
    expect(() => simulate({ nodes: 2, load: 0.5, jobs: 10, migration: "always" as "placement" })).toThrow(
      expect.objectContaining({ code: "invalid_option" }),
    );
  });
});

describe("the FCFS simulator's slowdown", () => {
  it("is response ÷ service: at least 1 for every job, so its mean and p99 are too", () => {
    const r = simulate({ nodes: 4, load: 0.6, jobs: 20_000, seed: 2, service: boundedPareto(1), policy: { kind: "sender" } });
    expect(r.meanSlowdown).toBeGreaterThanOrEqual(1);
    expect(r.p99Slowdown).toBeGreaterThanOrEqual(r.meanSlowdown);
    expect(r).toMatchObject({ lost: 0, duplicated: 0 });
  });
});
