// The policy state machines fed event by event: probe limit MAX and wait D, reservations,
// hysteresis, the adaptive back-off, and option validation.
import { describe, expect, it } from "vitest";
import type { LoadSample } from "../../../runtime/balance/load-metric.js";
import { createPolicy } from "../../../runtime/balance/policy.js";
import type { PolicyOptions } from "../../../runtime/balance/policy-options.js";
import type { LoadSharingPolicy, Message, PolicyAction, PolicyEvent } from "../../../runtime/balance/protocol.js";
import { createRng } from "../../../runtime/balance/rng.js";
import type { FerryError } from "../../../runtime/errors.js";

const load = (jobs: number): LoadSample => ({ ready: Math.max(0, jobs - 1), running: jobs > 0 ? 1 : 0, blocked: 0, throughput: 0 });

function node(
  options: PolicyOptions,
  nodeId = 0,
  nodeCount = 5,
): { policy: LoadSharingPolicy; step: (now: number, e: PolicyEvent, jobs: number) => PolicyAction[] } {
  const policy = createPolicy(options, { nodeId, nodeCount, rng: createRng(7) });
  return {
    policy,
    step: (now, e, jobs) => {
      const out: PolicyAction[] = [];
      policy.handle(now, e, load(jobs), out);
      return out;
    },
  };
}

const probes = (actions: PolicyAction[]): Extract<Message, { kind: "probe" }>[] =>
  actions.flatMap((a) => (a.type === "send" && a.message.kind === "probe" ? [a.message] : []));
const sentTo = (actions: PolicyAction[]): number[] =>
  actions.flatMap((a) => (a.type === "send" && a.message.kind === "probe" ? [a.to] : []));
const refuse = (p: { probe: "give" | "take"; id: number }, from: number): PolicyEvent => ({
  type: "message",
  message: { kind: "answer", probe: p.probe, id: p.id, from, accept: false },
});

describe("sender-initiated", () => {
  it("polls one random other node at a time, at most MAX per round, then waits D", () => {
    const { policy, step } = node({ kind: "sender", maxPolls: 3, retryInterval: 2 });
    let actions = step(0, { type: "arrival" }, 3);
    const polled: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [p] = probes(actions);
      expect(p).toMatchObject({ probe: "give", from: 0 });
      expect(probes(actions)).toHaveLength(1); // waits for the answer before the next poll
      polled.push(sentTo(actions)[0]!);
      actions = step(0.1 * (i + 1), refuse(p!, polled[i]!), 3);
    }
    expect(new Set(polled).size).toBe(3); // no node asked twice in a round
    expect(polled).not.toContain(0);
    expect(probes(actions)).toHaveLength(0);
    const timer = actions.find((a) => a.type === "set-timer");
    expect(timer).toMatchObject({ type: "set-timer", at: 0.3 + 2 });
    // More arrivals during D do not poll.
    expect(probes(step(1, { type: "arrival" }, 4))).toHaveLength(0);
    expect(probes(step(1.5, { type: "departure" }, 3))).toHaveLength(0);
    expect(policy.pollsSent).toBe(3);
    // After D it polls again.
    expect(probes(step(2.3, { type: "timer", token: (timer as { token: number }).token }, 3))).toHaveLength(1);
    expect(policy.pollsSent).toBe(4);
  });

  it("moves a job to a node that accepts, and starts no round below the upper threshold", () => {
    const { step } = node({ kind: "sender" });
    expect(step(0, { type: "arrival" }, 2)).toEqual([]); // 2 jobs: neutral
    const [p] = probes(step(0, { type: "arrival" }, 3));
    const actions = step(0.02, { type: "message", message: { kind: "answer", probe: "give", id: p!.id, from: 3, accept: true } }, 3);
    expect(actions).toEqual([{ type: "transfer", to: 3, probe: "give", id: p!.id }]); // 3 − 1 = 2: no new round
  });

  it("hysteresis: a sender that gives one job away does not become a receiver", () => {
    const { step } = node({ kind: "symmetric" });
    const [p] = probes(step(0, { type: "arrival" }, 3));
    step(0.02, { type: "message", message: { kind: "answer", probe: "give", id: p!.id, from: 2, accept: true } }, 3);
    // The node now holds 2 jobs: it neither polls for work nor accepts a job offered to it.
    expect(probes(step(0.03, { type: "departure" }, 2))).toHaveLength(0);
    const answer = step(0.04, { type: "message", message: { kind: "probe", probe: "give", id: 0, from: 4 } }, 2);
    expect(answer).toEqual([{ type: "send", to: 4, message: { kind: "answer", probe: "give", id: 0, from: 0, accept: false } }]);
  });

  it("cancels a late acceptance of a poll it already gave up on (timed out), releasing the reservation", () => {
    const { step } = node({ kind: "sender" });
    const [p] = probes(step(0, { type: "arrival" }, 3));
    step(5, refuse(p!, 2), 3); // the driver's timeout, fed as a refusal
    const late = step(6, { type: "message", message: { kind: "answer", probe: "give", id: p!.id, from: 2, accept: true } }, 3);
    expect(late).toContainEqual({ type: "send", to: 2, message: { kind: "cancel", id: p!.id, from: 0 } });
    expect(late.some((a) => a.type === "transfer")).toBe(false);
  });

  it("without a probe limit keeps polling until it succeeds", () => {
    const { policy, step } = node({ kind: "sender", maxPolls: Infinity, retryInterval: 0 });
    let actions = step(0, { type: "arrival" }, 5);
    for (let i = 0; i < 50; i++) {
      const [p] = probes(actions);
      expect(p).toBeDefined();
      actions = step(i, refuse(p!, sentTo(actions)[0]!), 5);
    }
    expect(policy.pollsSent).toBe(51);
    expect(actions.some((a) => a.type === "set-timer")).toBe(false);
  });
});

describe("receivers and reservations", () => {
  it("an idle node accepts one offered job and refuses a second sender until the first arrives", () => {
    const { step } = node({ kind: "sender" }, 1);
    const give = (from: number, id: number): PolicyEvent => ({ type: "message", message: { kind: "probe", probe: "give", id, from } });
    const accepts = (a: PolicyAction[]): boolean => a.some((x) => x.type === "send" && x.message.kind === "answer" && x.message.accept);
    expect(accepts(step(0, give(0, 5), 0))).toBe(true);
    expect(accepts(step(0.001, give(2, 5), 0))).toBe(false); // reserved for node 0's job
    step(0.01, { type: "job-in", from: 0, probe: "give", id: 5, job: true }, 1);
    expect(accepts(step(0.02, give(2, 6), 1))).toBe(false); // now busy
    step(1, { type: "departure" }, 0);
    expect(accepts(step(1.01, give(2, 7), 0))).toBe(true);
    step(1.02, { type: "message", message: { kind: "cancel", id: 7, from: 2 } }, 0); // sender had nothing after all
    expect(accepts(step(1.03, give(3, 1), 0))).toBe(true);
  });

  it("drops a reservation whose job never arrives after reservationTimeout", () => {
    const { policy, step } = node({ kind: "sender", reservationTimeout: 5 }, 1);
    const give = (from: number, id: number): PolicyEvent => ({ type: "message", message: { kind: "probe", probe: "give", id, from } });
    const accepts = (a: PolicyAction[]): boolean => a.some((x) => x.type === "send" && x.message.kind === "answer" && x.message.accept);
    expect(accepts(step(0, give(0, 5), 0))).toBe(true);
    expect(policy.reserved).toBe(1);
    expect(accepts(step(4.9, give(2, 6), 0))).toBe(false); // still held for node 0's job
    expect(accepts(step(5.1, give(2, 7), 0))).toBe(true); // lapsed: the slot is free again
    expect(policy.reserved).toBe(1);
  });

  it("a receiver whose accepted take never delivers gives up after reservationTimeout and polls again", () => {
    const r = node({ kind: "receiver", maxPolls: 1, retryInterval: 1, reservationTimeout: 3 }, 1);
    const [p] = probes(r.step(0, { type: "start" }, 0));
    const yes: PolicyEvent = { type: "message", message: { kind: "answer", probe: "take", id: p!.id, from: 2, accept: true } };
    expect(r.step(0.01, yes, 0)).toEqual([]); // awaiting the job
    expect(probes(r.step(1, { type: "departure" }, 0))).toEqual([]); // still waiting
    expect(probes(r.step(3.5, { type: "departure" }, 0))).toHaveLength(1); // lapsed: asks again
  });

  it("receiver-initiated: an idle node asks for work; a sender answers yes and transfers a job", () => {
    const r = node({ kind: "receiver", maxPolls: 2, retryInterval: 1 }, 1);
    const s = node({ kind: "receiver" }, 3);
    const [p] = probes(r.step(0, { type: "start" }, 0));
    expect(p).toMatchObject({ probe: "take", from: 1 });
    const reply = s.step(0.01, { type: "message", message: p! }, 4);
    expect(reply).toEqual([
      { type: "send", to: 1, message: { kind: "answer", probe: "take", id: p!.id, from: 3, accept: true } },
      { type: "transfer", to: 1, probe: "take", id: p!.id },
    ]);
    // While the job travels the receiver does not poll again.
    expect(r.step(0.02, { type: "message", message: (reply[0] as { message: Message }).message }, 0)).toEqual([]);
    expect(probes(r.step(0.03, { type: "departure" }, 0))).toHaveLength(0);
    // It arrives; the node is busy; when it finishes it asks again.
    expect(probes(r.step(0.05, { type: "job-in", from: 3, probe: "take", id: p!.id, job: true }, 1))).toHaveLength(0);
    expect(probes(r.step(1.05, { type: "departure" }, 0))).toHaveLength(1);
  });

  it("a node that is not a sender refuses to give a job", () => {
    const s = node({ kind: "receiver" }, 3);
    expect(s.step(0, { type: "message", message: { kind: "probe", probe: "take", id: 0, from: 1 } }, 2)).toEqual([
      { type: "send", to: 1, message: { kind: "answer", probe: "take", id: 0, from: 3, accept: false } },
    ]);
  });
});

describe("adaptive symmetric", () => {
  it("doubles its wait after each failed round and resets after a success", () => {
    const { step } = node({ kind: "adaptive", maxPolls: 1, retryInterval: 1, maxBackoffMultiple: 4 });
    const waits: number[] = [];
    let now = 0;
    let actions = step(now, { type: "start" }, 0);
    for (let round = 0; round < 5; round++) {
      const [p] = probes(actions);
      now += 0.01;
      actions = step(now, refuse(p!, sentTo(actions)[0]!), 0);
      const timer = actions.find((a) => a.type === "set-timer") as { at: number; token: number };
      waits.push(Number((timer.at - now).toFixed(6)));
      now = timer.at;
      actions = step(now, { type: "timer", token: timer.token }, 0);
    }
    expect(waits).toEqual([1, 2, 4, 4, 4]);
    const [p] = probes(actions);
    step(now + 0.01, { type: "message", message: { kind: "answer", probe: "take", id: p!.id, from: 2, accept: true } }, 0);
    actions = step(now + 0.02, { type: "job-in", from: 2, probe: "take", id: p!.id, job: true }, 1);
    actions = step(now + 1, { type: "departure" }, 0);
    const [q] = probes(actions);
    actions = step(now + 1.01, refuse(q!, 3), 0);
    const timer = actions.find((a) => a.type === "set-timer") as { at: number };
    expect(timer.at - (now + 1.01)).toBeCloseTo(1, 9);
  });
});

describe("none and options", () => {
  it("none never polls and refuses every probe", () => {
    const { policy, step } = node({ kind: "none" });
    expect(step(0, { type: "arrival" }, 10)).toEqual([]);
    expect(step(0, { type: "message", message: { kind: "probe", probe: "take", id: 0, from: 1 } }, 10)).toEqual([
      { type: "send", to: 1, message: { kind: "answer", probe: "take", id: 0, from: 0, accept: false } },
    ]);
    expect(policy.pollsSent).toBe(0);
  });

  it("rejects bad options with invalid_option", () => {
    const bad: PolicyOptions[] = [
      { kind: "bogus" as "none" },
      { kind: "sender", maxPolls: 0 },
      { kind: "sender", maxPolls: 2.5 },
      { kind: "sender", retryInterval: -1 },
      { kind: "sender", retryInterval: 0 }, // a probe limit needs a wait
      { kind: "adaptive", backoffFactor: 0.5 },
      { kind: "sender", lower: 1, upper: 2 },
    ];
    for (const o of bad) {
      let code: string | undefined;
      try {
        createPolicy(o, { nodeId: 0, nodeCount: 2, rng: createRng(1) });
      } catch (e) {
        code = (e as FerryError).code;
      }
      expect(code, JSON.stringify(o)).toBe("invalid_option");
    }
  });
});
