// Building blocks of the simulator: the event heap orders by time then insertion, the PRNG is
// reproducible, and the service distributions have mean 1 and the moments the bounds use.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRng, deriveSeed } from "../../../runtime/balance/rng.js";
import { boundedPareto, exponential, hyperexponential } from "../../../lab/sim/distributions.js";
import { EventQueue } from "../../../lab/sim/event-queue.js";

describe("event queue", () => {
  it("pops events in time order, equal times in push order", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.boolean()), { maxLength: 300 }), (ops) => {
        const q = new EventQueue<string>();
        const model: [number, number][] = [];
        let pushed = 0;
        const out: [number, number][] = [];
        for (const [t, pop] of ops) {
          if (pop && q.size > 0) {
            const s = q.pop();
            out.push([q.timeOf(s), q.argOf(s)]);
            model.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
            const expected = model.shift()!;
            if (expected[0] !== out.at(-1)![0] || expected[1] !== out.at(-1)![1]) return false;
          } else {
            q.push(t, 1, 0, pushed);
            model.push([t, pushed++]);
          }
        }
        return q.size === model.length;
      }),
    );
  });
});

describe("PRNG", () => {
  it("a seed gives the same stream; different seeds and derived streams differ", () => {
    const a = createRng(42);
    const b = createRng(42);
    const xs = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs);
    expect(createRng(43).next()).not.toBe(xs[0]);
    expect(deriveSeed(1, 0)).not.toBe(deriveSeed(1, 1));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it("is uniform enough: mean and bucket counts", () => {
    const rng = createRng(9);
    const buckets = new Array<number>(10).fill(0);
    let sum = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const x = rng.next();
      sum += x;
      buckets[rng.int(10)]!++;
    }
    expect(sum / n).toBeCloseTo(0.5, 2);
    for (const c of buckets) expect(Math.abs(c - n / 10)).toBeLessThan(600); // ~4.5σ
  });
});

describe("service distributions", () => {
  const sampleMoments = (d: ReturnType<typeof exponential>, n: number): [number, number] => {
    const rng = createRng(5);
    let m1 = 0;
    let m2 = 0;
    for (let i = 0; i < n; i++) {
      const x = d.sample(rng);
      m1 += x;
      m2 += x * x;
    }
    return [m1 / n, m2 / n];
  };

  it("exponential and hyperexponential have mean 1 and the stated second moment", () => {
    for (const d of [exponential(), hyperexponential(4)]) {
      const [m1, m2] = sampleMoments(d, 400_000);
      expect(m1).toBeCloseTo(1, 1);
      expect(Math.abs(m2 / d.secondMoment - 1)).toBeLessThan(0.05);
    }
    expect(hyperexponential(4).secondMoment).toBe(5);
  });

  it("bounded Pareto has mean 1 and stays within its bounds", () => {
    const d = boundedPareto(1.5, 10_000);
    const [m1] = sampleMoments(d, 400_000);
    expect(Math.abs(m1 - 1)).toBeLessThan(0.05);
    const rng = createRng(3);
    const { min, max } = d.lifetime as { min: number; max: number };
    for (let i = 0; i < 10_000; i++) {
      const x = d.sample(rng);
      expect(x >= min && x <= max * (1 + 1e-12)).toBe(true);
    }
    expect(d.secondMoment).toBeGreaterThan(20); // heavy: SCV far above exponential's 1
  });
});
