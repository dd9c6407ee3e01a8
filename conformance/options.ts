// The runner's command line (docs/conformance.md).

export interface RunnerOptions {
  dir: string;
  /** Only .wast files whose path (relative to dir) contains this. */
  only: string | undefined;
  sliceFuel: number;
  maxPauses: number;
  snapshotEvery: number;
  snapshotPauses: number;
  seed: number;
  fuelLimit: number;
  maxMemoryPages: number;
  json: string | undefined;
  /** Most disagreements printed (all go to --json). */
  maxListed: number;
  quiet: boolean;
}

export const USAGE = `usage: npm run conformance -- <dir> [--only TEXT] [--slice-fuel N] [--max-pauses N]
                            [--snapshot-every N] [--snapshot-pauses N] [--seed N] [--fuel-limit N]
                            [--max-memory-pages N] [--json FILE] [--max-listed N] [--quiet]

Runs every .wast file under <dir> (a copy of github.com/WebAssembly/testsuite) raw in V8 and in
Ferry straight, sliced and snapshotted at every pause (one module in --snapshot-every, default all);
prints a table per proposal and every disagreement. Exit status: 0 all agreed, 1 a disagreement, 2 bad usage
or a tool missing (wast2json, from Debian's wabt package; or set WAST2JSON).`;

export class UsageError extends Error {}

export function parseOptions(argv: readonly string[]): RunnerOptions {
  const o: RunnerOptions = {
    dir: "",
    only: undefined,
    sliceFuel: 3,
    maxPauses: 2_000_000,
    snapshotEvery: 1,
    snapshotPauses: 64,
    seed: 1,
    fuelLimit: 10_000_000_000,
    maxMemoryPages: 65_536,
    json: undefined,
    maxListed: 200,
    quiet: false,
  };
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} needs an integer of at least ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string | undefined => argv[++i];
    if (a === "--only") o.only = v();
    else if (a === "--slice-fuel") o.sliceFuel = int(a, v(), 1);
    else if (a === "--max-pauses") o.maxPauses = int(a, v(), 1);
    else if (a === "--snapshot-every") o.snapshotEvery = int(a, v(), 0);
    else if (a === "--snapshot-pauses") o.snapshotPauses = int(a, v(), 1);
    else if (a === "--seed") o.seed = int(a, v(), 0);
    else if (a === "--fuel-limit") o.fuelLimit = int(a, v(), 1);
    else if (a === "--max-memory-pages") o.maxMemoryPages = int(a, v(), 1);
    else if (a === "--json") o.json = v();
    else if (a === "--max-listed") o.maxListed = int(a, v(), 0);
    else if (a === "--quiet") o.quiet = true;
    else if (a.startsWith("--")) throw new UsageError(`unknown option ${a}`);
    else if (o.dir) throw new UsageError(`one directory, got ${o.dir} and ${a}`);
    else o.dir = a;
  }
  if (!o.dir) throw new UsageError("which directory? (a copy of the spec test suite)");
  return o;
}
