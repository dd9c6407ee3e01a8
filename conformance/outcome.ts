// What one call did, in any engine: returned values (as the JS API gave them), trapped (with a
// Ferry trap code when the trap has one), or failed on the host side (a FerryError, a pause cap,
// an exception that is not a trap).

import { isFerryError, type TrapCode } from "../runtime/index.js";

export type Outcome =
  | { kind: "values"; value: unknown; fuel?: number; pauses?: number }
  | { kind: "trap"; code: TrapCode | undefined; message: string; fuel?: number; pauses?: number }
  | { kind: "error"; code: string; message: string };

/** A host-side failure as an outcome: a FerryError keeps its code, anything else is named by its class. */
export function errorOutcome(e: unknown, where: string): Outcome {
  if (isFerryError(e)) return { kind: "error", code: e.code, message: `${where}: ${e.message}` };
  const cls = e instanceof Error ? e.constructor.name : typeof e;
  return { kind: "error", code: `non-FerryError ${cls}`, message: `${where}: ${e instanceof Error ? e.message : String(e)}` };
}

export function showOutcome(o: Outcome): string {
  switch (o.kind) {
    case "values":
      return `returned ${String(o.value)}`;
    case "trap":
      return `trap ${o.code ?? "(no code)"}${o.code ? "" : `: ${o.message}`}`;
    case "error":
      return `error ${o.code}: ${o.message}`;
  }
}
