// `ferry simulate` through main(): the table, the SVG plot written atomically, reproducibility,
// and command-line validation with exit status 2 and messages naming the option.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { LAB_COMMANDS } from "../../../lab/commands.js";
import { main } from "../../../server/cli/main.js";

const dir = mkdtempSync(join(tmpdir(), "ferry-simulate-"));

class Capture extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function ferry(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(argv, { stdout, stderr }, LAB_COMMANDS);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe("ferry simulate", () => {
  it("prints a load × policy table with the M/M/1 and M/M/c bounds and writes an SVG plot", async () => {
    const plot = join(dir, "plot.svg");
    const r = await ferry(
      "simulate",
      "--policies",
      "none,sender,receiver",
      "--nodes",
      "8",
      "--loads",
      "0.5..0.9",
      "--step",
      "0.2",
      "--jobs",
      "20000",
      "--plot",
      plot,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("| load | M/M/1 | none | sender | receiver | M/M/8 |");
    const rows = r.stdout.split("\n").filter((l) => /^\| 0\.[579]0 \|/.test(l));
    const loads = ["0.50", "0.70", "0.90"];
    expect(rows.map((l) => l.split("|")[1]!.trim())).toEqual([...loads, ...loads, ...loads]); // response, slowdown, traffic
    expect(r.stdout).toContain("| load | none slowdown | none p99 slowdown | none p99 response | sender slowdown |");
    expect(rows[0]).toContain("| 2.000 |"); // M/M/1 at 0.5
    expect(r.stdout).toContain("All jobs completed exactly once: yes");
    const svg = readFileSync(plot, "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(5); // 3 policies + 2 bounds
    for (const label of ["none", "sender", "receiver", "M/M/1", "M/M/8"]) expect(svg).toContain(`>${label}</text>`);
    // What the bounds mean, and which way is better, on the plot and under the table.
    expect(svg).toContain("lower is better");
    expect(svg).toContain("M/M/8 = one pooled queue, perfect sharing");
    expect(r.stdout).toContain("Lower is better. M/M/1: every node alone, no sharing");
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("gives the same table for the same seed", async () => {
    const args = ["simulate", "--policies", "symmetric", "--nodes", "5", "--loads", "0.6,0.8", "--jobs", "5000", "--seed", "7"];
    const a = await ferry(...args);
    const b = await ferry(...args);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it("takes the policies' knobs and a costs file, and says which are in force", async () => {
    const costs = join(dir, "costs.json");
    writeFileSync(costs, JSON.stringify({ latency: 0.02, cpuPerMessage: 0 }));
    const r = await ferry(
      "simulate",
      ...["--policies", "none,sender,elz-sender", "--nodes", "6", "--loads", "0.7", "--jobs", "5000"],
      ...["--upper", "4", "--lower", "1", "--max-polls", "2", "--retry", "0.2", "--threshold", "3", "--costs", costs],
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`lower 1, upper 4, MAX 2, D 0.2, T 3, Lp 2, costs from ${costs}`);
    expect(r.stdout).toContain("| load | M/M/1 | none | sender | elz-sender | M/M/6 |");
    writeFileSync(costs, JSON.stringify({ latency: 0.02, speed: 1 }));
    const bad = await ferry("simulate", "--costs", costs);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown field "speed"');
  });

  it("--mean-field: the single-threshold policies next to their models, with the crossover per Lp", async () => {
    const r = await ferry(
      "simulate",
      ...["--policies", "elz-sender,elz-receiver", "--mean-field", "--costs", "zero", "--nodes", "50"],
      ...["--loads", "0.5,0.9", "--max-polls", "1,3", "--jobs", "5000", "--replications", "2"],
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("| policy | Lp | load | simulated | ±95% CI | mean field | error |");
    expect(r.stdout).toMatch(/\| elz-receiver \| 3 \| 0\.90 \| [0-9.]+ \| ±[0-9.]+% \| 1\.7542 \| [+−][0-9.]+% \|/);
    expect(r.stdout).toMatch(/\| 1 \| 0\.84[0-9] \| [0-9.]+ \|/); // the model's crossover at Lp 1
    expect(r.stdout).toContain("All jobs completed exactly once: yes");
  });

  it("placement and preemptive: time-sharing nodes, slowdown columns, the ratio, h2 and pareto with their parameters", async () => {
    const args = ["--nodes", "6", "--loads", "0.8", "--jobs", "4000", "--costs", "costly"];
    const r = await ferry(
      "simulate",
      "--policies",
      "none,placement,preemptive",
      "--service",
      "pareto",
      "--alpha",
      "1",
      "--span",
      "1000",
      ...args,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("bounded Pareto α 1, span 1e+3 service");
    expect(r.stdout).toContain(
      "| load | policy | mean response | mean slowdown | p99 slowdown | p99 response | weak moves % | strong moves % |",
    );
    expect(r.stdout.split("\n").filter((l) => l.startsWith("| 0.80 |"))).toHaveLength(3);
    expect(r.stdout).toMatch(/Mean slowdown, preemptive ÷ placement: 0\.80: \d\.\d{3}/);
    expect(r.stdout).toContain("costly moves");
    expect(r.stdout).toContain("All jobs completed exactly once: yes");
    const h2 = await ferry("simulate", "--policies", "preemptive", "--service", "h2", "--scv", "10", ...args);
    expect(h2.code).toBe(0);
    expect(h2.stdout).toContain("H2 C² 10 service");
  });

  it("prints its help", async () => {
    const r = await ferry("simulate", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--no-probe-limit");
  });

  it.each([
    [["--policies", "none,bogus"], "--policies"],
    [["--nodes", "0"], "--nodes"],
    [["--loads", "0.5..1.2"], "--loads"],
    [["--loads", "0.9..0.5"], "--loads"],
    [["--loads", "0.5,0.8", "--step", "0.1"], "--step"],
    [["--step", "-1"], "--step"],
    [["--jobs", "abc"], "--jobs"],
    [["--service", "weibull"], "--service"],
    [["--arrivals", "zipf"], "--arrivals"],
    [["--bogus"], "--bogus"],
    [["--policies", "elz-sender", "--threshold", "1"], "--threshold"],
    [["--policies", "sender", "--threshold", "3"], "--threshold"],
    [["--policies", "elz-receiver", "--upper", "5"], "--upper"],
    [["--policies", "elz-sender", "--retry", "1"], "--retry"],
    [["--policies", "sender", "--upper", "2", "--lower", "0"], "--upper/--lower"],
    [["--policies", "sender", "--max-polls", "0"], "--max-polls"],
    [["--policies", "sender", "--max-polls", "1,3"], "--max-polls"],
    [["--policies", "sender", "--retry", "0"], "--retry"],
    [["--costs", "nowhere.json"], "--costs"],
    [["--no-probe-limit", "--costs", "zero"], "--costs"],
    [["--policies", "elz-sender", "--no-probe-limit"], "--max-polls"],
    [["--policies", "sender", "--mean-field"], "--mean-field"],
    [["--policies", "elz-sender", "--mean-field", "--service", "pareto"], "--mean-field"],
    [["--policies", "sender", "--replications", "3"], "--replications"],
    [["--policies", "placement,sender"], "--policies"],
    [["--policies", "preemptive", "--service", "pareto", "--alpha", "0"], "--alpha"],
    [["--policies", "preemptive", "--service", "pareto", "--alpha", "x"], "--alpha"],
    [["--policies", "preemptive", "--service", "pareto", "--span", "1"], "--span"],
    [["--policies", "preemptive", "--service", "h2", "--scv", "0.5"], "--scv"],
    [["--policies", "preemptive", "--service", "exp", "--scv", "4"], "--scv"],
    [["--policies", "preemptive", "--service", "h2", "--alpha", "1"], "--alpha"],
    [["--policies", "preemptive", "--threshold", "3"], "--threshold"],
    [["--policies", "placement", "--plot", "p.svg"], "--plot"],
    [["--policies", "placement", "--mean-field"], "--mean-field"],
    [["--policies", "placement", "--arrivals", "single"], "--arrivals"],
    [["--policies", "placement", "--upper", "2", "--lower", "0"], "--upper/--lower"],
  ])("rejects %j with exit status 2 naming the option", async (args, option) => {
    const r = await ferry("simulate", ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(option);
    expect(existsSync(join(dir, "never.svg"))).toBe(false);
  });
});
