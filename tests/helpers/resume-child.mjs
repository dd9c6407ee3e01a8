// Child process for the cross-process migration test: restores snapshots produced by the parent
// with the *built* runtime (dist/) and runs each to completion.
// argv: <jobs.json>, a list of { wasm, snapshot } paths. Prints one JSON result per job.
import { readFileSync } from "node:fs";
import { Engine } from "../../dist/runtime/index.js";

const jobs = JSON.parse(readFileSync(process.argv[2], "utf8"));
const engine = new Engine();
const results = [];
for (const job of jobs) {
  await engine.compile(readFileSync(job.wasm));
  const instance = await engine.restore(readFileSync(job.snapshot));
  let r = await instance.resume({ fuel: job.slice });
  while (r.status === "paused") r = await instance.resume({ fuel: job.slice });
  results.push({ pid: process.pid, result: r, output: Buffer.from(instance.output()).toString("base64") });
}
process.stdout.write(JSON.stringify(results));
