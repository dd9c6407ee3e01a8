// Preloaded (`node --import`) into a child process under test: appends to $FERRY_LOAD_TRACE every
// module the process loads ("load <url>", through a module loader hook) and every worker thread it
// starts ("worker <url>"), so a test can say what a command loaded without timing anything.
import { register, syncBuiltinESMExports } from "node:module";
import { appendFileSync } from "node:fs";
import workerThreads from "node:worker_threads";

const out = process.env.FERRY_LOAD_TRACE;
if (!out) throw new Error("load-trace.mjs needs FERRY_LOAD_TRACE (the file to append to)");
register("./load-trace-hooks.mjs", import.meta.url, { data: { out } });

// Compile workers start with execArgv [] (no hooks inside them): their start is what is recorded.
const Original = workerThreads.Worker;
workerThreads.Worker = class TracedWorker extends Original {
  constructor(script, options) {
    appendFileSync(out, `worker ${String(script)}\n`);
    super(script, options);
  }
};
syncBuiltinESMExports(); // `import { Worker } from "node:worker_threads"` now sees the traced one
