// Fuggetta's table (runtime/resources/bindings.ts): each binding and attachment has a default
// migration action and the alternatives a job may ask for; nothing else is accepted.
import { describe, expect, it } from "vitest";
import { actionsFor, ATTACHMENTS, BINDING_KINDS, chooseAction, MIGRATION_ACTIONS, parseChoice } from "../../../runtime/index.js";
import { refusal } from "../../helpers/errors.js";

describe("the binding table", () => {
  it("has the lecture's defaults", () => {
    expect(chooseAction("identifier", "unattached")).toBe("move");
    expect(chooseAction("identifier", "fastened")).toBe("global-reference");
    expect(chooseAction("identifier", "fixed")).toBe("global-reference");
    expect(chooseAction("value", "unattached")).toBe("copy");
    expect(chooseAction("value", "fastened")).toBe("global-reference");
    expect(chooseAction("value", "fixed")).toBe("global-reference");
    for (const a of ATTACHMENTS) expect(chooseAction("type", a)).toBe("rebind");
  });

  it("never moves or copies a fixed resource, whatever is asked", () => {
    for (const b of BINDING_KINDS) {
      for (const asked of ["move", "copy"] as const) {
        expect(() => chooseAction(b, "fixed", asked)).toThrow(/cannot be migrated by "(move|copy)"/);
      }
    }
  });

  it("takes an override the cell allows, and refuses one it does not with invalid_option naming the choices", async () => {
    expect(chooseAction("identifier", "fastened", "move")).toBe("move");
    expect(chooseAction("value", "unattached", "global-reference")).toBe("global-reference");
    const e = await refusal(() => chooseAction("identifier", "unattached", "copy"));
    expect(e.code).toBe("invalid_option");
    expect(e.message).toMatch(/"move", "global-reference"/);
    // A resource bound by identifier is never rebound: the job wants that one, not another of its kind.
    for (const a of ATTACHMENTS) expect(actionsFor("identifier", a)).not.toContain("rebind");
  });

  it("every cell allows a global reference, and every action appears somewhere", () => {
    const seen = new Set<string>();
    for (const b of BINDING_KINDS)
      for (const a of ATTACHMENTS) {
        expect(actionsFor(b, a)).toContain("global-reference");
        for (const x of actionsFor(b, a)) seen.add(x);
      }
    expect([...seen].sort()).toEqual([...MIGRATION_ACTIONS].sort());
  });

  it("parses a user's choice or names the choices", () => {
    expect(parseChoice("--move", "copy", MIGRATION_ACTIONS)).toBe("copy");
    expect(() => parseChoice("--move", "teleport", MIGRATION_ACTIONS)).toThrow(
      /must be one of "move", "copy", "global-reference", "rebind", got "teleport"/,
    );
  });
});
