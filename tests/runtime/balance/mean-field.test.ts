// The single-threshold policies' mean-field models: their limits (no polls is M/M/1), conservation
// of work, and the classic ordering (sender-initiated better at light load, receiver at heavy).
import { describe, expect, it } from "vitest";
import { elzMeanField } from "../../../runtime/balance/mean-field.js";
import { refusal } from "../../helpers/errors.js";

const kinds = ["elz-sender", "elz-receiver"] as const;

describe("mean-field models", () => {
  it("with Lp = 0 both are M/M/1", () => {
    for (const kind of kinds) {
      for (const load of [0.3, 0.9])
        expect(elzMeanField({ kind, load, threshold: 2, polls: 0 }).meanResponse).toBeCloseTo(1 / (1 - load), 9);
    }
  });

  it("is a distribution whose nodes complete jobs at the arrival rate (1 − π₀ = λ) at every point", () => {
    for (const kind of kinds) {
      for (const load of [0.5, 0.8, 0.95]) {
        for (const polls of [1, 3, 5]) {
          for (const threshold of [2, 3]) {
            const { distribution: pi } = elzMeanField({ kind, load, threshold, polls });
            expect(pi.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
            expect(1 - pi[0]!).toBeCloseTo(load, 9);
          }
        }
      }
    }
  });

  it("more polls never hurt, and sharing beats no sharing", () => {
    for (const kind of kinds) {
      for (const load of [0.5, 0.9]) {
        const r = [0, 1, 3, 5].map((polls) => elzMeanField({ kind, load, threshold: 2, polls }).meanResponse);
        for (let i = 1; i < r.length; i++) expect(r[i]!).toBeLessThan(r[i - 1]!);
      }
    }
  });

  it("sender-initiated responds faster at light load, receiver-initiated at heavy load", () => {
    const at = (kind: (typeof kinds)[number], load: number) => elzMeanField({ kind, load, threshold: 2, polls: 3 }).meanResponse;
    expect(at("elz-sender", 0.5)).toBeLessThan(at("elz-receiver", 0.5));
    expect(at("elz-receiver", 0.95)).toBeLessThan(at("elz-sender", 0.95));
  });

  it("refuses what it does not model, naming the option", async () => {
    const base = { kind: "elz-sender", load: 0.5, threshold: 2, polls: 1 } as const;
    for (const [bad, name] of [
      [{ load: 1 }, "`load`"],
      [{ threshold: 0 }, "`threshold`"],
      [{ polls: -1 }, "`polls`"],
    ] as const) {
      const r = await refusal(() => elzMeanField({ ...base, ...bad }));
      expect(r.code).toBe("invalid_option");
      expect(r.message).toContain(name);
    }
  });
});
