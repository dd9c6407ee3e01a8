// A migration storm on real node processes: many short jobs all arriving at one node, an aggressive
// symmetric policy (short D, a heavy-tailed lifetime guess so old running jobs also move strongly),
// and an audit across every node's store: each job ended exactly once, with the right value.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { calibrateSpin } from "../../../lab/cluster/spin-guest.js";
import { Cluster, runPolicy, type ClusterOptions } from "../../../lab/cluster/cluster.js";

describe("live balancing: migration storm", () => {
  let cluster: Cluster;
  let itersPerMs: number;
  beforeAll(async () => {
    itersPerMs = await calibrateSpin(5_000_000, 3);
    cluster = await Cluster.start(4);
  });
  afterAll(async () => cluster?.close());

  it("every job submitted ends exactly once with the right result", async () => {
    const options: ClusterOptions = {
      nodes: 4,
      policies: ["symmetric"],
      load: 0.7,
      arrivals: "single",
      jobs: 400,
      seed: 7,
      meanServiceMs: 10,
      lower: 1,
      upper: 4,
      maxPolls: 3,
      retryInterval: 0.2,
      lifetime: { kind: "pareto", alpha: 1.5, min: 1, max: 1e6 },
    };
    const run = await runPolicy(cluster, "symmetric", options, itersPerMs);
    expect({ lost: run.lost, duplicated: run.duplicated, wrong: run.wrong }).toEqual({ lost: 0, duplicated: 0, wrong: 0 });
    expect(run.completed).toBe(400);
    expect(run.weak + run.strong).toBeGreaterThan(100); // a storm indeed
    expect(run.strong).toBeGreaterThan(0);
    // A short running job may finish while it is being stopped (counted as raced, the slot goes to the
    // next pick). Otherwise the protocol refuses nothing in a healthy cluster (0 in every run so far);
    // a machine stalled past a peer timeout may fail a transfer or two, and the job then goes on where
    // it was, which the exactly-once audit above checks. A systematic refusal shows up as many.
    expect(run.failed).toBeLessThanOrEqual(2);
  }, 240_000); // ~10 s alone; the margin is for a machine busy with other work
});
