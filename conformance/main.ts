// `npm run conformance -- <dir>`: the WebAssembly spec test suite run differentially — raw V8,
// Ferry straight, sliced and snapshotted (docs/conformance.md).

import { writeFileSync } from "node:fs";
import { existsSync, statSync } from "node:fs";
import { USAGE, UsageError, parseOptions, type RunnerOptions } from "./options.js";
import { runConformance } from "./run.js";
import { renderReport } from "./tally.js";
import { WAST2JSON } from "./convert.js";
import { spawnSync } from "node:child_process";

async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  let options: RunnerOptions;
  try {
    options = parseOptions(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`conformance: ${e.message}\n${USAGE}`);
    return 2;
  }
  if (!existsSync(options.dir) || !statSync(options.dir).isDirectory()) {
    console.error(`conformance: ${options.dir} is not a directory`);
    return 2;
  }
  if (spawnSync(WAST2JSON, ["--version"]).error) {
    console.error(`conformance: ${WAST2JSON} not found (Debian: apt-get install wabt; or set WAST2JSON)`);
    return 2;
  }
  const { groups, total } = await runConformance(options, options.quiet ? undefined : (line) => console.error(line));
  console.log(renderReport(groups, total, options.maxListed));
  if (options.json) {
    writeFileSync(options.json, JSON.stringify({ options, groups: Object.fromEntries(groups), total }, null, 2));
  }
  return total.disagreements.length > 0 ? 1 : 0;
}

process.exit(await main(process.argv.slice(2)));
