// The single-threshold policies of Eager, Lazowska & Zahorjan fed event by event: which events start
// a round, Lp polls and no D, what "below T" counts, and their option validation.
import { describe, expect, it } from "vitest";
import type { LoadSample } from "../../../runtime/balance/load-metric.js";
import { throughputMetric } from "../../../runtime/balance/load-metric.js";
import { createPolicy } from "../../../runtime/balance/policy.js";
import { normalizePolicyOptions, type PolicyOptions } from "../../../runtime/balance/policy-options.js";
import type { Message, PolicyAction, PolicyEvent } from "../../../runtime/balance/protocol.js";
import { createRng } from "../../../runtime/balance/rng.js";
import { refusal } from "../../helpers/errors.js";

const load = (jobs: number): LoadSample => ({ ready: Math.max(0, jobs - 1), running: jobs > 0 ? 1 : 0, blocked: 0, throughput: 0 });

function node(options: PolicyOptions, nodeId = 0, nodeCount = 10) {
  const policy = createPolicy(options, { nodeId, nodeCount, rng: createRng(3) });
  return {
    policy,
    step: (now: number, e: PolicyEvent, jobs: number): PolicyAction[] => {
      const out: PolicyAction[] = [];
      policy.handle(now, e, load(jobs), out);
      return out;
    },
  };
}

const probes = (actions: PolicyAction[]): { to: number; message: Extract<Message, { kind: "probe" }> }[] =>
  actions.flatMap((a) => (a.type === "send" && a.message.kind === "probe" ? [{ to: a.to, message: a.message }] : []));
const answer = (p: { to: number; message: { probe: "give" | "take"; id: number } }, accept: boolean): PolicyEvent => ({
  type: "message",
  message: { kind: "answer", probe: p.message.probe, id: p.message.id, from: p.to, accept },
});
const accepts = (a: PolicyAction[]): boolean => a.some((x) => x.type === "send" && x.message.kind === "answer" && x.message.accept);

describe("elz-sender (Threshold(T, Lp))", () => {
  it("an arrival that brings the queue to T polls up to Lp distinct nodes, then keeps the job, with no timer", () => {
    const { policy, step } = node({ kind: "elz-sender", threshold: 3, maxPolls: 4 });
    expect(step(0, { type: "arrival" }, 2)).toEqual([]); // 2 < T
    let actions = step(1, { type: "arrival" }, 3);
    const asked: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [p] = probes(actions);
      expect(p?.message.probe).toBe("give");
      asked.push(p!.to);
      actions = step(1, answer(p!, false), 3);
    }
    expect(new Set(asked).size).toBe(4);
    expect(actions).toEqual([]); // Lp refusals: the job stays, no D
    expect(policy.pollsSent).toBe(4);
    // The next arrival is a round of its own.
    expect(probes(step(2, { type: "arrival" }, 4))).toHaveLength(1);
  });

  it("moves the job to the first node that accepts; only arrivals from outside start a round", () => {
    const { step } = node({ kind: "elz-sender", threshold: 2, maxPolls: 3 });
    const [p] = probes(step(0, { type: "arrival" }, 2));
    expect(step(0, answer(p!, true), 2)).toEqual([{ type: "transfer", to: p!.to, probe: "give", id: p!.message.id }]);
    // A job moved here, a completion, a timer or the start never start a round, however long the queue.
    expect(step(1, { type: "job-in", from: 4, probe: "give", id: 9, job: true }, 5)).toEqual([]);
    expect(step(2, { type: "departure" }, 4)).toEqual([]);
    expect(step(3, { type: "start" }, 4)).toEqual([]);
  });

  it("accepts an offered job only below T, counting the jobs it has already accepted", () => {
    const { step } = node({ kind: "elz-sender", threshold: 2 }, 1);
    const give = (from: number, id: number): PolicyEvent => ({ type: "message", message: { kind: "probe", probe: "give", id, from } });
    expect(accepts(step(0, give(0, 1), 2))).toBe(false); // 2 ≥ T
    expect(accepts(step(0, give(0, 2), 1))).toBe(true); // 1 < T
    expect(accepts(step(0, give(2, 1), 1))).toBe(false); // 1 + the reserved one
    step(0, { type: "job-in", from: 0, probe: "give", id: 2, job: true }, 2);
    expect(accepts(step(1, give(3, 1), 1))).toBe(true);
  });
});

describe("elz-receiver (Receiver(T, Lp))", () => {
  it("a completion that leaves the node below T polls up to Lp nodes, then waits for the next completion", () => {
    const { step } = node({ kind: "elz-receiver", threshold: 2, maxPolls: 2 });
    expect(step(0, { type: "start" }, 0)).toEqual([]); // no completion yet
    expect(step(0, { type: "departure" }, 2)).toEqual([]); // still at T
    let actions = step(1, { type: "departure" }, 1);
    for (let i = 0; i < 2; i++) {
      const [p] = probes(actions);
      expect(p?.message.probe).toBe("take");
      actions = step(1, answer(p!, false), 1);
    }
    expect(actions).toEqual([]); // Lp refusals, no D
    expect(step(2, { type: "arrival" }, 1)).toEqual([]); // arrivals never poll
    // A job given away (moved) leaves the donor below T without a round.
    expect(step(3, { type: "departure", moved: true }, 1)).toEqual([]);
    expect(probes(step(4, { type: "departure" }, 0))).toHaveLength(1);
  });

  it("a donor gives a waiting job only at ≥ T", () => {
    const donor = node({ kind: "elz-receiver", threshold: 3 }, 4);
    const take = (id: number): PolicyEvent => ({ type: "message", message: { kind: "probe", probe: "take", id, from: 0 } });
    expect(accepts(donor.step(0, take(1), 2))).toBe(false);
    expect(donor.step(0, take(2), 3)).toEqual([
      { type: "send", to: 0, message: { kind: "answer", probe: "take", id: 2, from: 4, accept: true } },
      { type: "transfer", to: 0, probe: "take", id: 2 },
    ]);
  });
});

describe("single-threshold options", () => {
  it.each([
    [{ threshold: 1 }, "`threshold`"],
    [{ threshold: 2.5 }, "`threshold`"],
    [{ maxPolls: Infinity, retryInterval: 0 }, "`maxPolls`"],
    [{ maxPolls: 0 }, "`maxPolls`"],
    [{ metric: throughputMetric(10) }, "`metric`"],
  ])("rejects %j with invalid_option naming the option", async (bad, name) => {
    for (const kind of ["elz-sender", "elz-receiver"] as const) {
      const r = await refusal(() => normalizePolicyOptions({ kind, ...bad }));
      expect(r.code).toBe("invalid_option");
      expect(r.message).toContain(name);
    }
  });

  it("needs no gap and no D, and leaves the two-threshold policies' rules as they were", async () => {
    expect(normalizePolicyOptions({ kind: "elz-sender" })).toMatchObject({ threshold: 2, maxPolls: 3 });
    expect(normalizePolicyOptions({ kind: "elz-receiver", threshold: 5, lower: 3, upper: 3 }).threshold).toBe(5);
    expect((await refusal(() => normalizePolicyOptions({ kind: "sender", lower: 1, upper: 2 }))).message).toContain("`upper`");
    expect((await refusal(() => normalizePolicyOptions({ kind: "receiver", retryInterval: 0 }))).message).toContain("`retryInterval`");
  });
});
