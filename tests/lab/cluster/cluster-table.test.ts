// The live cluster's report table (`npm run demo`): every column is explained under it.
import { describe, expect, it } from "vitest";
import { CLUSTER_COLUMNS, clusterTable, type ClusterReport } from "../../../lab/cluster/cluster.js";

describe("ferry cluster's table", () => {
  it("names every column of its header in the legend under it", () => {
    const report = {
      options: {
        nodes: 4,
        load: 0.8,
        arrivals: "single",
        jobs: 10,
        meanServiceMs: 20,
        lower: 1,
        upper: 2,
        maxPolls: 3,
        retryInterval: 1,
        seed: 1,
      },
      cores: 2,
      mmnMs: 30,
      runs: [],
    } as unknown as ClusterReport;
    const text = clusterTable(report);
    expect(text).toContain(CLUSTER_COLUMNS);
    const header = text.split("\n").find((l) => l.startsWith("| policy |"))!;
    const columns = header
      .split("|")
      .map((c) => c.trim())
      .filter((c) => c !== "" && c !== "policy");
    const legend = CLUSTER_COLUMNS.replaceAll("M/M/N", "M/M/4");
    for (const c of columns) {
      // "mean ms" and "p99 ms" are explained together as "mean/p99 ms".
      const name = c === "mean ms" || c === "p99 ms" ? "mean/p99 ms" : c === "polls/job" ? "polls/job" : c;
      expect(legend, `column "${c}"`).toContain(
        name.replace(/^weak$|^strong$/, "weak/strong").replace(/^lost$|^dup$|^wrong$/, "lost/dup/wrong"),
      );
    }
  });
});
