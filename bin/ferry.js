#!/usr/bin/env -S node --single-threaded-gc
// The installed `ferry` command: the product's CLI (server/cli) with the lab's commands registered
// (simulate, cluster); the compiled files come from `npm run build`.
// --single-threaded-gc: V8's parallel GC helper threads compete with the node's one thread on a
// small machine, and a guest's memory.grow (or anything else that waits on them) stalled the event
// loop for up to 30 ms on 2 busy cores; GC on the main thread alone keeps it within the slice
// budget (docs/sandboxes.md, "A wall-clock budget behind the fuel").
import { LAB_COMMANDS } from "../dist/lab/commands.js";
import { main } from "../dist/server/cli/main.js";

// exitCode rather than process.exit(): let piped stdout drain first.
process.exitCode = await main(process.argv.slice(2), undefined, LAB_COMMANDS);
