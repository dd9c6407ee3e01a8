// After tsc: the isolated sandbox's child script as one file. A cold isolated start forks a process
// that loads the child's whole module graph (44 compiled files after the architecture step), and
// each file is a read, a parse and a link on the start-up path — about 5 ms of the ~65 ms a cold
// start costs. Bundled into dist/runtime/sandbox/isolated/child-main.js itself, the path every
// caller (the pool, the package, the permission flags) already uses, the child loads one file.
// Nothing in the child's graph uses import.meta, so inlining changes no path it computes; Binaryen
// stays external (the child never instruments). Without this step the unbundled tsc output runs
// the same, only slower to start.
import { build } from "esbuild";

const entry = "dist/runtime/sandbox/isolated/child-main.js";
await build({
  entryPoints: [entry],
  outfile: entry,
  allowOverwrite: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["binaryen"],
  sourcemap: true,
  logLevel: "warning",
});
