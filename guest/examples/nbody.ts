// Example guest: the benchmarks-game n-body simulation (Sun + four gas giants), f64 throughout.
// guest/reference.ts repeats every floating-point operation in the same order, so results match
// bit for bit.

export { ferry_continuation } from "../sdk";

const PI: f64 = 3.141592653589793;
const SOLAR_MASS: f64 = 4.0 * PI * PI;
const DAYS_PER_YEAR: f64 = 365.24;
const DT: f64 = 0.01;

class Body {
  constructor(
    public x: f64,
    public y: f64,
    public z: f64,
    public vx: f64,
    public vy: f64,
    public vz: f64,
    public mass: f64,
  ) {}
}

function createSystem(): Body[] {
  const bodies: Body[] = [
    new Body(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, SOLAR_MASS),
    // Jupiter
    new Body(
      4.8414314424647209,
      -1.16032004402742839,
      -0.103622044471123109,
      0.00166007664274403694 * DAYS_PER_YEAR,
      0.00769901118419740425 * DAYS_PER_YEAR,
      -0.0000690460016972063023 * DAYS_PER_YEAR,
      0.000954791938424326609 * SOLAR_MASS,
    ),
    // Saturn
    new Body(
      8.34336671824457987,
      4.12479856412430479,
      -0.403523417114321381,
      -0.00276742510726862411 * DAYS_PER_YEAR,
      0.00499852801234917238 * DAYS_PER_YEAR,
      0.0000230417297573763929 * DAYS_PER_YEAR,
      0.000285885980666130812 * SOLAR_MASS,
    ),
    // Uranus
    new Body(
      12.894369562139131,
      -15.1111514016986312,
      -0.223307578892655734,
      0.00296460137564761618 * DAYS_PER_YEAR,
      0.0023784717395948095 * DAYS_PER_YEAR,
      -0.0000296589568540237556 * DAYS_PER_YEAR,
      0.0000436624404335156298 * SOLAR_MASS,
    ),
    // Neptune
    new Body(
      15.3796971148509165,
      -25.9193146099879641,
      0.179258772950371181,
      0.00268067772490389322 * DAYS_PER_YEAR,
      0.00162824170038242295 * DAYS_PER_YEAR,
      -0.000095159225451971587 * DAYS_PER_YEAR,
      0.0000515138902046611451 * SOLAR_MASS,
    ),
  ];
  // Offset the Sun's momentum so the system's total momentum is zero.
  let px = 0.0, py = 0.0, pz = 0.0;
  for (let i = 0; i < bodies.length; i++) {
    const b = unchecked(bodies[i]);
    px += b.vx * b.mass;
    py += b.vy * b.mass;
    pz += b.vz * b.mass;
  }
  const sun = unchecked(bodies[0]);
  sun.vx = -px / SOLAR_MASS;
  sun.vy = -py / SOLAR_MASS;
  sun.vz = -pz / SOLAR_MASS;
  return bodies;
}

function advance(bodies: Body[], dt: f64): void {
  const n = bodies.length;
  for (let i = 0; i < n; i++) {
    const bi = unchecked(bodies[i]);
    for (let j = i + 1; j < n; j++) {
      const bj = unchecked(bodies[j]);
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
  for (let i = 0; i < n; i++) {
    const b = unchecked(bodies[i]);
    b.x += dt * b.vx;
    b.y += dt * b.vy;
    b.z += dt * b.vz;
  }
}

function energy(bodies: Body[]): f64 {
  let e = 0.0;
  const n = bodies.length;
  for (let i = 0; i < n; i++) {
    const bi = unchecked(bodies[i]);
    e += 0.5 * bi.mass * (bi.vx * bi.vx + bi.vy * bi.vy + bi.vz * bi.vz);
    for (let j = i + 1; j < n; j++) {
      const bj = unchecked(bodies[j]);
      const dx = bi.x - bj.x;
      const dy = bi.y - bj.y;
      const dz = bi.z - bj.z;
      e -= (bi.mass * bj.mass) / Math.sqrt(dx * dx + dy * dy + dz * dz);
    }
  }
  return e;
}

/** Total energy after `steps` steps of 0.01; main(1000) ≈ -0.169087605. */
export function main(steps: i32): f64 {
  const bodies = createSystem();
  for (let s = 0; s < steps; s++) advance(bodies, DT);
  return energy(bodies);
}
