// One object of each class a job creates on its host-call path, kept for the life of the process,
// so that V8 keeps the class's hidden classes — and the optimised code that checks for them.
//
// V8 gives an object a chain of hidden classes ("maps"), one per field added, and holds each map
// only through the objects that have it. Every object a job creates dies with the job, so between
// two jobs the GC collected those maps and threw away the optimised code of every method that had
// checked for one ("weak objects" deoptimisations in --trace-deopt): each job ran its host calls in
// V8's slower tiers again until they were optimised again. On c-lz (a C compressor making 2,800
// WASI calls, bench/wasi.ts) a job took about 1.4× the CPU it takes with the maps kept, and every
// short job pays that warm-up on each call it makes. A sample built by the class's own constructor
// (with light arguments) takes the same chain of maps as the real objects; holding it keeps the chain.
// tests/runtime/exec/shape-anchor.test.ts checks that a second job's host calls are not deoptimised.

const samples: object[] = [];

/** Keep `sample` (an object of a per-job class, built with light arguments) for good; returns it. */
export function keepShape<T extends object>(sample: T): T {
  samples.push(sample);
  return sample;
}
