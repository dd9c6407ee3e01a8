// Where the metering must *check* fuel, decided from the call graph before any code is rewritten.
//
// Fuel is charged at every function entry and loop header, but a check costs more (it makes the
// function pausable, so Asyncify instruments it), so most functions only charge. That is safe only
// while the work a call can do before reaching a check stays bounded: a chain of functions that
// each call the next twice does 2^N calls and would never meet a check. This plan bounds it.
//
// For each function f let S(f) be its instruction count (all of it: a forward run of code passes
// each instruction at most once between two checks, since going back means passing a loop
// header), and
//     W(f) = S(f) + Σ over its call sites of W(callee), counting only *unchecked* callees
// (a checked callee stops the run at its entry). A call_indirect counts as a call to the heaviest
// unchecked table function. Functions are taken callees first (Tarjan's order); every function on
// a call-graph cycle is checked; then, while W(f) > S(f) + SPAN_FUEL, the callee contributing most
// becomes checked. So every function ends with W(f) ≤ S(f) + SPAN_FUEL.
//
// Checked functions check at entry, and every call *to* a checked function (and to a host import
// or runtime helper) is followed by a charge for the rest of the caller's region and a check, so a
// return into a deep stack is never free: see docs/metering.md for the bound this gives.

/** The most work (fuel) a call to an unchecked function may add on top of its caller's own code. */
export const SPAN_FUEL = 8_192;

export interface CallGraphFunction {
  name: string;
  /** Every instruction in the body, loops included (the S of the plan). */
  size: number;
  /** Direct call sites to defined functions: callee → number of sites. */
  calls: Map<string, number>;
  /** call_indirect sites. */
  indirectCalls: number;
}

export interface MeterPlan {
  /** Functions that check fuel at entry; calls to them charge and check after returning. */
  checked: Set<string>;
  /** On a call-graph cycle (a subset of `checked`). */
  recursive: Set<string>;
  /** True when some table function is checked: then every call_indirect charges and checks after. */
  indirectChecked: boolean;
  /** The most fuel any function's code plus its unchecked callees can do without a check. */
  maxSpan: number;
}

export function planChecks(functions: CallGraphFunction[], tableFunctions: Set<string>): MeterPlan {
  const byName = new Map(functions.map((f) => [f.name, f]));
  const table = [...tableFunctions].filter((t) => byName.has(t));
  // Stands for "any function in a table" in the call graph: a name no function has.
  let TABLE = "table";
  while (byName.has(TABLE)) TABLE += "'";
  // call_indirect may reach any table function: one node stands for the table, so the graph has
  // one edge per call_indirect caller and per table entry, not their product.
  const edges = new Map<string, string[]>();
  for (const f of functions) {
    const out = [...f.calls.keys()].filter((c) => byName.has(c));
    if (f.indirectCalls > 0) out.push(TABLE);
    edges.set(f.name, out);
  }
  edges.set(TABLE, table);

  const spans = new SpanBounds(table);
  const recursive = new Set<string>();
  for (const component of stronglyConnected([...edges.keys()], edges)) {
    const members = component.filter((name) => name !== TABLE);
    const cyclic = component.length > 1 || edges.get(component[0]!)!.includes(component[0]!);
    if (cyclic)
      for (const name of members) {
        spans.checked.add(name);
        recursive.add(name);
      }
    for (const name of members) spans.span.set(name, spans.boundSpan(byName.get(name)!));
  }

  let maxSpan = 0;
  for (const s of spans.span.values()) maxSpan = Math.max(maxSpan, s);
  const { checked } = spans;
  return { checked, recursive, indirectChecked: table.some((t) => checked.has(t)), maxSpan };
}

/** The spans of the functions planned so far, and the checks that keep each within its bound. */
class SpanBounds {
  readonly checked = new Set<string>();
  readonly span = new Map<string, number>();
  // Table functions, heaviest first, for the heaviest *unchecked* one a call_indirect may reach.
  // Sorted when the first call_indirect is met: a function that calls indirectly has an edge to
  // every table function, so each of them is in an earlier component (span known) or in its own
  // (cyclic, hence checked, so its weight is 0). Checked only grows, so a cursor suffices.
  private tableOrder: string[] | undefined;
  private tableCursor = 0;

  constructor(private readonly table: readonly string[]) {}

  private heaviestUncheckedTable(): string | undefined {
    this.tableOrder ??= [...this.table].sort((a, b) => (this.span.get(b) ?? 0) - (this.span.get(a) ?? 0));
    while (this.tableCursor < this.tableOrder.length && this.checked.has(this.tableOrder[this.tableCursor]!)) this.tableCursor++;
    return this.tableOrder[this.tableCursor];
  }

  private weight(name: string): number {
    return this.checked.has(name) ? 0 : (this.span.get(name) ?? 0);
  }

  /**
   * W(f) after checking the heaviest callees until it is at most S(f) + SPAN_FUEL. Direct
   * contributions do not change as others get checked, so they are sorted once; the indirect one
   * is the heaviest unchecked table function's, which moves as table functions get checked.
   */
  boundSpan(f: CallGraphFunction): number {
    const limit = f.size + SPAN_FUEL;
    const direct = new Map<string, number>();
    let total = f.size;
    for (const [callee, sites] of f.calls) {
      const contribution = sites * this.weight(callee);
      if (contribution === 0) continue;
      direct.set(callee, contribution);
      total += contribution;
    }
    let target = f.indirectCalls > 0 ? this.heaviestUncheckedTable() : undefined;
    let indirect = target ? f.indirectCalls * this.weight(target) : 0;
    total += indirect;
    if (total <= limit) return total;
    const order = [...direct.entries()].sort((a, b) => b[1] - a[1]);
    let next = 0;
    while (total > limit) {
      while (next < order.length && !direct.has(order[next]![0])) next++;
      const top = order[next];
      if (!top && indirect === 0) break;
      const pick = !top || indirect > top[1] ? target! : top[0];
      this.checked.add(pick);
      total -= direct.get(pick) ?? 0;
      direct.delete(pick);
      if (indirect > 0 && this.checked.has(target!)) {
        total -= indirect;
        target = this.heaviestUncheckedTable();
        indirect = target ? f.indirectCalls * this.weight(target) : 0;
        total += indirect;
      }
    }
    return total;
  }
}

/**
 * Strongly connected components in reverse topological order (a component comes after every
 * component it calls into), by an iterative Tarjan: guest call graphs can be deep enough to
 * overflow a recursive one.
 */
export function stronglyConnected(nodes: string[], edges: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: Array<{ node: string; edge: number }> = [{ node: root, edge: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const out = edges.get(top.node)!;
      if (top.edge < out.length) {
        const to = out[top.edge++]!;
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) {
          low.set(top.node, Math.min(low.get(top.node)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]!.node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === index.get(top.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== top.node);
        components.push(component);
      }
    }
  }
  return components;
}
