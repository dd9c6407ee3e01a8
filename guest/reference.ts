// Plain JavaScript reference implementations of the example guests in guest/examples/. Each one
// repeats the guest's floating-point operations in the same order, so results are bit-identical.

const utf8 = new TextEncoder();

/** Result of a guest that also writes output. */
export interface ReferenceResult {
  value: number;
  output: Uint8Array;
}

/** sieve.ts: number of primes <= n. */
export function sieve(n: number): number {
  if (n < 2) return 0;
  const composite = new Uint8Array(n + 1);
  let count = 0;
  for (let i = 2; i <= n; i++) {
    if (composite[i]) continue;
    count++;
    for (let j = i * i; j <= n; j += i) composite[j] = 1;
  }
  return count;
}

// nbody.ts, same constants and operation order.
const PI = Math.PI;
const SOLAR_MASS = 4.0 * PI * PI;
const DAYS_PER_YEAR = 365.24;
const NBODY_DT = 0.01;

interface Body {
  x: number;
  y: number;
  z: number;
  vx: number;
  vy: number;
  vz: number;
  mass: number;
}

function body(x: number, y: number, z: number, vx: number, vy: number, vz: number, mass: number): Body {
  return { x, y, z, vx, vy, vz, mass };
}

function nbodySystem(): Body[] {
  const bodies = [
    body(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, SOLAR_MASS),
    body(
      4.8414314424647209,
      -1.16032004402742839,
      -0.103622044471123109,
      0.00166007664274403694 * DAYS_PER_YEAR,
      0.00769901118419740425 * DAYS_PER_YEAR,
      -0.0000690460016972063023 * DAYS_PER_YEAR,
      0.000954791938424326609 * SOLAR_MASS,
    ),
    body(
      8.34336671824457987,
      4.12479856412430479,
      -0.403523417114321381,
      -0.00276742510726862411 * DAYS_PER_YEAR,
      0.00499852801234917238 * DAYS_PER_YEAR,
      0.0000230417297573763929 * DAYS_PER_YEAR,
      0.000285885980666130812 * SOLAR_MASS,
    ),
    body(
      12.894369562139131,
      -15.1111514016986312,
      -0.223307578892655734,
      0.00296460137564761618 * DAYS_PER_YEAR,
      0.0023784717395948095 * DAYS_PER_YEAR,
      -0.0000296589568540237556 * DAYS_PER_YEAR,
      0.0000436624404335156298 * SOLAR_MASS,
    ),
    body(
      15.3796971148509165,
      -25.9193146099879641,
      0.179258772950371181,
      0.00268067772490389322 * DAYS_PER_YEAR,
      0.00162824170038242295 * DAYS_PER_YEAR,
      -0.000095159225451971587 * DAYS_PER_YEAR,
      0.0000515138902046611451 * SOLAR_MASS,
    ),
  ];
  let px = 0.0;
  let py = 0.0;
  let pz = 0.0;
  for (const b of bodies) {
    px += b.vx * b.mass;
    py += b.vy * b.mass;
    pz += b.vz * b.mass;
  }
  const sun = bodies[0]!;
  sun.vx = -px / SOLAR_MASS;
  sun.vy = -py / SOLAR_MASS;
  sun.vz = -pz / SOLAR_MASS;
  return bodies;
}

function nbodyAdvance(bodies: Body[], dt: number): void {
  const n = bodies.length;
  for (let i = 0; i < n; i++) {
    const bi = bodies[i]!;
    for (let j = i + 1; j < n; j++) {
      const bj = bodies[j]!;
      const dx = bi.x - bj.x;
      const dy = bi.y - bj.y;
      const dz = bi.z - bj.z;
      const d2 = dx * dx + dy * dy + dz * dz;
      const mag = dt / (d2 * Math.sqrt(d2));
      const bim = bi.mass * mag;
      const bjm = bj.mass * mag;
      bi.vx -= dx * bjm;
      bi.vy -= dy * bjm;
      bi.vz -= dz * bjm;
      bj.vx += dx * bim;
      bj.vy += dy * bim;
      bj.vz += dz * bim;
    }
  }
  for (const b of bodies) {
    b.x += dt * b.vx;
    b.y += dt * b.vy;
    b.z += dt * b.vz;
  }
}

function nbodyEnergy(bodies: Body[]): number {
  let e = 0.0;
  const n = bodies.length;
  for (let i = 0; i < n; i++) {
    const bi = bodies[i]!;
    e += 0.5 * bi.mass * (bi.vx * bi.vx + bi.vy * bi.vy + bi.vz * bi.vz);
    for (let j = i + 1; j < n; j++) {
      const bj = bodies[j]!;
      const dx = bi.x - bj.x;
      const dy = bi.y - bj.y;
      const dz = bi.z - bj.z;
      e -= (bi.mass * bj.mass) / Math.sqrt(dx * dx + dy * dy + dz * dz);
    }
  }
  return e;
}

/** nbody.ts: total energy after `steps` steps of 0.01. */
export function nbody(steps: number): number {
  const bodies = nbodySystem();
  for (let s = 0; s < steps; s++) nbodyAdvance(bodies, NBODY_DT);
  return nbodyEnergy(bodies);
}

/** matmul.ts: sum of the entries of A×B (see the guest for A and B). */
export function matmul(n: number): number {
  const size = n * n;
  const a = new Float64Array(size);
  const b = new Float64Array(size);
  const c = new Float64Array(size);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      a[i * n + j] = ((i * j) % 7) + 0.5;
      b[i * n + j] = (((i + j) % 5) - 1.25) * 0.1;
    }
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0.0;
      for (let k = 0; k < n; k++) sum += a[i * n + k]! * b[k * n + j]!;
      c[i * n + j] = sum;
    }
  }
  let total = 0.0;
  for (let i = 0; i < size; i++) total += c[i]!;
  return total;
}

/** recursion.ts `fib` (and `main`). Iterative here: only the value has to match. */
export function fib(n: number): number {
  if (n < 2) return n;
  let a = 0;
  let b = 1;
  for (let i = 1; i < n; i++) [a, b] = [b, (a + b) | 0];
  return b;
}

/** recursion.ts `ackermann`, with closed forms for m <= 3 so deep cases cost no JS stack. */
export function ackermann(m: number, n: number): number {
  if (m === 0) return n + 1;
  if (m === 1) return n + 2;
  if (m === 2) return 2 * n + 3;
  if (m === 3) return 2 ** (n + 3) - 3;
  if (n === 0) return ackermann(m - 1, 1);
  return ackermann(m - 1, ackermann(m, n - 1));
}

/** wordfreq.ts: the `top` most frequent words as "<word> <count>\n"; value = distinct words. */
export function wordfreq(input: Uint8Array, top: number): ReferenceResult {
  const text = new TextDecoder("utf-8").decode(input);
  const counts = new Map<string, number>();
  // Words are runs of ASCII letters and digits; anything else (any other UTF-16 code unit) splits.
  for (const match of text.matchAll(/[A-Za-z0-9]+/g)) {
    const word = match[0].toLowerCase(); // ASCII-only words, so this is ASCII lowercasing
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const entries = [...counts].sort(([wa, ca], [wb, cb]) => (ca !== cb ? cb - ca : wa < wb ? -1 : wa > wb ? 1 : 0));
  const lines = entries.slice(0, Math.max(0, top)).map(([w, c]) => `${w} ${c}\n`);
  return { value: counts.size, output: utf8.encode(lines.join("")) };
}

const MANDELBROT_MAX_ITERATIONS = 200;
const MANDELBROT_RAMP = " .:-=+*#%@";

/** mandelbrot.ts: the ASCII picture (one line per row) and the total iteration count. */
export function mandelbrot(width: number, height: number): ReferenceResult {
  const out = new Uint8Array((width + 1) * height);
  let total = 0;
  let p = 0;
  for (let row = 0; row < height; row++) {
    const y0 = 1.2 - (2.4 * (row + 0.5)) / height;
    for (let col = 0; col < width; col++) {
      const x0 = -2.0 + (3.0 * (col + 0.5)) / width;
      let zx = 0.0;
      let zy = 0.0;
      let i = 0;
      while (i < MANDELBROT_MAX_ITERATIONS) {
        const zx2 = zx * zx;
        const zy2 = zy * zy;
        if (zx2 + zy2 > 4.0) break;
        zy = 2.0 * zx * zy + y0;
        zx = zx2 - zy2 + x0;
        i++;
      }
      total = (total + i) | 0;
      const shade = i >= MANDELBROT_MAX_ITERATIONS ? 9 : Math.min(Math.trunc(i / 3), 8);
      out[p++] = MANDELBROT_RAMP.charCodeAt(shade);
    }
    out[p++] = 0x0a;
  }
  return { value: total, output: out };
}

// ---- Deterministic wordfreq input. ----

/** mulberry32: a tiny seeded PRNG, so generated inputs are identical on every machine. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Ordered most to least frequent. Includes digits, a digit-letter mix and non-ASCII words (which
// split at the non-ASCII letter: "café" counts as "caf").
const VOCABULARY = [
  "the",
  "of",
  "and",
  "to",
  "a",
  "in",
  "is",
  "it",
  "that",
  "wasm",
  "guest",
  "host",
  "ferry",
  "stack",
  "snapshot",
  "resume",
  "pause",
  "memory",
  "fuel",
  "migrate",
  "node",
  "peer",
  "module",
  "instance",
  "continuation",
  "asyncify",
  "binaryen",
  "checkpoint",
  "runtime",
  "sandbox",
  "2024",
  "v8",
  "x86",
  "42",
  "café",
  "naïve",
  "über",
  "zebra",
  "quartz",
  "jinx",
  "fjord",
];
const PUNCTUATION = [",", ".", ";", ":", "!", "?", " -", "'s", ")", '"'];

/** Seeded text of `words` words with Zipf-like frequencies, mixed case and punctuation. */
export function wordfreqText(words: number, seed = 0x5eed): string {
  const random = mulberry32(seed);
  const parts: string[] = [];
  for (let i = 0; i < words; i++) {
    // Cubing a uniform value skews picks towards the front of the vocabulary.
    let word = VOCABULARY[Math.floor(random() ** 3 * VOCABULARY.length)]!;
    const shape = random();
    if (shape < 0.08) word = word.charAt(0).toUpperCase() + word.slice(1);
    else if (shape < 0.1) word = word.toUpperCase();
    parts.push(word);
    if (random() < 0.15) parts.push(PUNCTUATION[Math.floor(random() * PUNCTUATION.length)]!);
    parts.push(random() < 0.08 ? "\n" : " ");
  }
  return parts.join("");
}
