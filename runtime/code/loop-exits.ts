// The exits of a call-free loop whose running fuel lives in a local (function-meter.ts meterLoop):
// every branch or return that leaves the loop body writes the fuel back to the global first.

import type { ExpressionRef } from "./binaryen.js";
import type { ModuleMeter } from "./meter-costs.js";

/**
 * Write the running fuel back before every branch or return that leaves the loop body (labels
 * defined inside it, and the loop's own label, are not exits). A conditional exit stores only
 * when taken; one carrying a value stores before it (its value cannot contain a call).
 */
export function storeOnExits(
  { b, m, walker }: Pick<ModuleMeter, "b" | "m" | "walker">,
  loopBody: ExpressionRef,
  loopLabel: string | null,
  storeFuel: () => ExpressionRef,
): ExpressionRef {
  const inside = new Set<string>(loopLabel ? [loopLabel] : []);
  const rewrite = (expr: ExpressionRef): ExpressionRef => {
    const kind = b.getExpressionId(expr);
    const label = kind === b.BlockId || kind === b.LoopId ? (b.getExpressionInfo(expr) as unknown as { name: string | null }).name : null;
    const added = label !== null && label !== "" && !inside.has(label);
    if (added) inside.add(label!);
    walker.mapChildren(expr, rewrite);
    if (added) inside.delete(label!);
    if (kind === b.BreakId) {
      const info = b.getExpressionInfo(expr) as unknown as { name: string; condition: ExpressionRef; value: ExpressionRef };
      if (inside.has(info.name)) return expr;
      if (info.condition && !info.value) return m.if(info.condition, m.block(null, [storeFuel(), m.br(info.name)]));
      return m.block(null, [storeFuel(), expr], b.getExpressionType(expr));
    }
    if (kind === b.SwitchId) {
      const info = b.getExpressionInfo(expr) as unknown as { names: string[]; defaultName: string | null };
      if ([...info.names, info.defaultName].every((n) => n === null || inside.has(n))) return expr;
      return m.block(null, [storeFuel(), expr], b.getExpressionType(expr));
    }
    if (kind === b.ReturnId) return m.block(null, [storeFuel(), expr], b.getExpressionType(expr));
    return expr;
  };
  return rewrite(loopBody);
}
