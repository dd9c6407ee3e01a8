// Child process for the module cache's concurrent-writer test: stores the same entry over and over
// through the *built* cache (dist/), racing its siblings and a reader in the test process.
// argv: <cacheDir> <segment.json> <times>
import { readFileSync } from "node:fs";
import { ModuleCache } from "../../dist/runtime/code/module-cache.js";

const [dir, segmentFile, times] = process.argv.slice(2);
const { codeHash, options, segment } = JSON.parse(readFileSync(segmentFile, "utf8"));
const cache = new ModuleCache(dir);
const bytes = new Uint8Array(Buffer.from(segment.bytes, "base64"));
for (let i = 0; i < Number(times); i++) await cache.put(codeHash, options, { ...segment, bytes });
const { stored, writeFailures } = cache.stats;
process.stdout.write(`${JSON.stringify({ stored, writeFailures })}\n`);
