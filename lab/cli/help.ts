// Help texts of the lab's commands (`ferry simulate`, `ferry cluster`), shown by `--help` and by
// `ferry help <command>` with the exit status table every command shares.

import { EXIT_STATUS_TABLE } from "../../server/cli/exit-status.js";

/** Without the exit status table: the main help appends it once (server/cli/main.ts). */
export const LAB_TEXTS = {
  simulate: `Usage: ferry simulate [options]

Options:
  --policies LIST         comma list of none, sender, receiver, symmetric, adaptive (two
                          thresholds), elz-sender, elz-receiver (one threshold T, Eager,
                          Lazowska & Zahorjan) (default: none,sender,receiver,symmetric);
                          or of none, placement, preemptive: time-sharing nodes, the sender
                          policy moving new jobs only (placement) or also old running ones
                          whose age exceeds the strong move's cost ÷ the load difference
                          (preemptive, Harchol-Balter & Downey)
  --nodes N               nodes, one processor each (default: 20)
  --loads LO..HI | A,B    offered loads per node, each in (0, 1) (default: 0.1..0.95)
  --step S                spacing of a --loads range (default: 0.05)
  --jobs N                jobs simulated per load and policy, 10% warm-up discarded (default: 100000)
  --seed S                random seed; the same seed gives the same table (default: 1)
  --service exp|h2|pareto service times, all with mean 1 (default: exp); hyperexp is h2
  --scv C2                h2: squared coefficient of variation, ≥ 1 (default: 4)
  --alpha A --span S      pareto: tail index and largest ÷ smallest job, bounded so the mean
                          exists; α 1 is the 1/t lifetime law of Harchol-Balter & Downey
                          (default: 1.5, 10000)
  --arrivals uniform|single       spread arrivals evenly, or send them all to node 0 (default: uniform)
  --lower L --upper U     two thresholds: receiver at ≤ L jobs, sender at ≥ U; U − L > 2 (default: 0, 3)
  --threshold T           one threshold (elz-*): an arrival that brings a queue to T jobs looks
                          for a node below T; a completion that leaves one below T looks for a
                          node at ≥ T; an integer ≥ 2 (default: 2)
  --max-polls N           MAX, polls per round (two thresholds), or Lp, polls per arrival or
                          completion (elz-*) (default: 3); a list 1,3,5 with --mean-field
  --retry D               wait after MAX failed polls, in mean service times (default: 0.5)
  --costs zero|default|costly|FILE   network and CPU costs of polls and moves: none, the
                          defaults, moves costing about a mean job (costly), or a JSON file
                          of some of latency, bytesPerTime, cpuPerMessage, cpuPerTransfer,
                          cpuPerByte, weakBytes, snapshotBytes (default: default)
  --no-probe-limit        poll without MAX or D (shows thrashing)
  --mean-field            elz-sender and elz-receiver against their mean-field (N → ∞) models
                          for each --max-polls value: mean response with a 95% CI, the error, and
                          the load where receiver-initiated becomes better (exp, uniform arrivals)
  --replications R        --mean-field: independent runs per point, seeds S, S+1, … (default: 1)
  --plot FILE             also write an SVG plot of mean response time against load
  -h, --help              show this help

Prints a markdown table of mean response time per load and policy next to the M/M/1 and
M/M/c bounds (M/G/1 and an M/G/c approximation for other services), the mean and p99
slowdown (response ÷ the job's service time) and p99 response, and the polls and transfers
per job. With placement/preemptive: one table of mean and p99 response and slowdown and the
moves per job, and the ratio of their mean slowdowns.`,
  cluster: `Usage: ferry cluster [options]

Options:
  --nodes N               node processes on loopback, one running job each (default: 4)
  --policy LIST           comma list of none, sender, receiver, symmetric, adaptive, or
                          elz-sender, elz-receiver (threshold T = 2, Lp = --max-polls)
                          (default: the first five, one measured run each)
  --load R                offered load per node, in (0, 1) (default: 0.8)
  --arrivals single|uniform   all jobs to the first node, or spread evenly (default: single)
  --jobs N                jobs per policy run (default: 300)
  --seed S                the same seed gives every policy the same arrivals and jobs (default: 1)
  --service-ms MS         mean service time of a job run alone (default: 40)
  --service exp|pareto    service times: exponential, or bounded Pareto with --alpha A
                          (default 1) and --span S (largest ÷ smallest job, default 1000);
                          the nodes are told the Pareto lifetimes (default: exp)
  --migration RULE        how a transfer picks its job: cost-model (default), placement
                          (queued jobs only, weakly) or preemptive (the running job, strongly,
                          once its age exceeds the strong move's cost ÷ the load difference)
  --lower L --upper U     receiver at load ≤ L, sender at ≥ U, ready-queue metric (default: 1, 4)
  --max-polls MAX         polls per round (default: 3)
  --retry-interval D      wait after a failed round, in mean service times (default: 0.5)
  --json                  print the report as JSON
  -h, --help              show this help

Needs the build (npm run build). Prints per policy the mean and p99 response time, the mean
execution time, polls and weak/strong migrations next to the M/M/N bound, and checks that every
job completed exactly once across the nodes' stores (exit status 4 if not).`,
};

export const LAB_HELP = {
  simulate: `${LAB_TEXTS.simulate}\n\n${EXIT_STATUS_TABLE}`,
  cluster: `${LAB_TEXTS.cluster}\n\n${EXIT_STATUS_TABLE}`,
};
