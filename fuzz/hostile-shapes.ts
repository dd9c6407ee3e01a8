// Generators of hostile guest modules: shapes that try to escape fuel metering (work between two fuel
// checks that grows with the call graph, not the module) or to do work that is not guest
// instructions (memory.grow, bulk memory, host calls, resources) for a fuel unit each (issue 8, §1
// and §4). Each generator takes size parameters, so tests pick a few sizes and the fuzzer draws
// random ones; none is a hand-written file.
//
// Every module exports a mutable i64 global `work` (global index 0) that the guest bumps *after*
// each unit of real work by that work's *fuel floor*: the least fuel any sound meter must charge
// for it (FUEL_FLOOR). The counter never runs ahead of the work done, so a test reads how much work
// ran without timing anything, and can assert
//     work ≤ L + meterBound + maxOpWork   (a run stopped at fuel L did no more than it was allowed)
//     work ≤ fuelUsed                     (every unit of work was charged)
// Every shape is finite: a meter that never stops it lets `totalWork` through and the run ends, so a
// broken meter costs a test a bounded amount of time instead of hanging it.

import binaryen from "binaryen";
import { MAX_LOG_LINE_BYTES } from "../runtime/host/index.js";
import { MAX_HOST_IO_BYTES } from "../runtime/limits.js";
import { MAX_RESOURCE_IO_BYTES } from "../runtime/host/ferry-resources/session.js";
import { rawHost } from "../guest/raw-host.js";

/** The least fuel a sound meter charges for each kind of work (the `work` counter's units). */
//
// The floors are deliberately below what the meter charges, but proportional to what the work costs
// in time: a fuel unit must stand for about the same wall time whatever the guest does, or slices
// sized by fuel rate stop meaning anything (issue 8 §4). Lower one only with a measurement.
export const FUEL_FLOOR = {
  /** A function call runs at least one instruction of its callee. */
  call: 1,
  /** One step of straight-line guest code: global.get, i64.const, i64.add, global.set (4 instructions). */
  step: 1,
  /** A host call, a bulk memory instruction or a resource operation, whatever it moves. */
  op: 1,
  /**
   * Opening a resource: path checks and several file-system calls (tens of µs on a file root),
   * whatever the file's size (the meter charges 5,000).
   */
  open: 1_000,
  /**
   * Each KiB a host call, bulk memory instruction or resource operation moves: 1 fuel per 64 B
   * (the meter charges bulk memory 1 per 4 B; copying runs at ~1-10 B/ns, an instruction ~1/ns).
   */
  movedKib: 16,
  /**
   * Each KiB of the memory's size after a successful memory.grow: V8 reallocates and copies the whole
   * memory on a grow past a few tens of MiB (~2 ms per grow at 128 MiB), so the work of a grow is its
   * new size, not the pages it adds (the meter charges 16 per KiB of the new size).
   */
  grownKib: 1,
  /**
   * Each element table.fill, table.copy or table.init writes: V8 sets elements one by one with a
   * write barrier (measured 20–70 ns each), so about 4 bytes of memory copy (the meter charges 8).
   */
  tableElement: 4,
  /**
   * Each 16 elements of a table's size after a table.grow: V8 copies the whole table to grow it
   * (~0.5 ns an element; the meter charges 16 per 16).
   */
  grownTableElements16: 1,
} as const;

export type HostileFamily =
  | "call-chain"
  | "recursion"
  | "memory-grow"
  | "bulk-memory"
  | "table"
  | "host-output"
  | "host-log"
  | "host-input"
  | "resource";

/** What a run of the module needs from its host. */
export interface HostNeeds {
  /** `authenticated` for the resource interface; everything else runs anonymous. */
  trust: "anonymous" | "authenticated";
  /** Input bytes (`inputBytes(n)` gives the content). */
  inputBytes: number;
  /** Output and log the complete run writes, bytes (a limit below it ends the run output_limit). */
  outputBytes: number;
  logBytes: number;
  /** Files that must exist before the run, with their sizes (`fileBytes(n)` gives the content). */
  files: Array<{ name: string; bytes: number }>;
  capabilities: string[];
  /** Memory pages the complete run reaches (the engine's cap must allow them). */
  memoryPages: number;
}

export interface HostileModule {
  family: HostileFamily;
  /** The variant and its sizes, e.g. "call-chain plain/direct from main, depth 20, fan-out 2". */
  name: string;
  bytes: Uint8Array;
  entry: string;
  args: number[];
  /** Export name and global index of the work counter (an i64 global, in snapshots by index). */
  counter: { export: "work"; globalIndex: 0 };
  /** Work a complete run does: what a meter that never stops the guest lets through. */
  totalWork: number;
  /** The most work one uninterruptible operation does (a host call, a grow, a bulk instruction). */
  maxOpWork: number;
  /** The entry's value after a complete run (a raw V8 run must give it too); null when it returns nothing. */
  expected: bigint | null;
  host: HostNeeds;
}

/** A random draw: the fuzzer's Rng fits (only `int` is used). */
export interface Draw {
  /** An integer in [0, n). */
  int(n: number): number;
}

const COUNTER = { export: "work", globalIndex: 0 } as const;
/** Every shape's memory, exported as "memory" so a raw run (and its host functions) can reach it. */
const memory = (pages: number): string => `(memory (export "memory") ${pages})`;
const WORK_GLOBAL = `(global $work (export "work") (mut i64) (i64.const 0))`;
const bump = (fuel: number): string => `(global.set $work (i64.add (global.get $work) (i64.const ${fuel})))`;
const KIB = 1024;
const PAGE = 65_536;
const kib = (bytes: number): number => Math.floor(bytes / KIB);
const pagesFor = (bytes: number): number => Math.max(1, Math.ceil(bytes / PAGE));

const NO_HOST: HostNeeds = { trust: "anonymous", inputBytes: 0, outputBytes: 0, logBytes: 0, files: [], capabilities: [], memoryPages: 1 };

// ---- (a)–(c) call chains: N levels, each calling the next K times, no loops, no recursion ----

export type ChainStyle =
  /** f_i calls f_{i+1} K times. */
  | "plain"
  /** K functions per level, each calling every function of the next level once. */
  | "spread"
  /** The K calls sit in both arms of an if on an argument. */
  | "if-arms"
  /** The K calls sit in each of three br_table targets. */
  | "br-table"
  /** Each function returns 1 + the sum of its K callees' results: the results are used. */
  | "results";
export type ChainCall =
  | "direct"
  /** Every level calls the next through call_indirect (one signature). */
  | "indirect"
  /** call_indirect with a distinct signature per level (a type-aware call graph sees no cycle). */
  | "typed-indirect"
  /** Even levels call indirectly, odd levels directly. */
  | "mixed"
  /** Only the middle level calls indirectly; the table holds just its callees. */
  | "one-indirect-hop";
/** Where the chain starts: an export that calls it, the chain's root exported itself, or the start function. */
export type ChainRoot = "main" | "export" | "start";

export interface CallChainParams {
  depth: number;
  fanout: number;
  style: ChainStyle;
  via: ChainCall;
  from: ChainRoot;
}

export const CHAIN_STYLES: readonly ChainStyle[] = ["plain", "spread", "if-arms", "br-table", "results"];
export const CHAIN_CALLS: readonly ChainCall[] = ["direct", "indirect", "typed-indirect", "mixed", "one-indirect-hop"];
export const CHAIN_ROOTS: readonly ChainRoot[] = ["main", "export", "start"];

/** Calls the chain makes: Σ K^i for i = 0..N (the root calls level 0 once). */
export function chainCalls(depth: number, fanout: number): number {
  let total = 0;
  for (let i = 0, level = 1; i <= depth; i++, level *= fanout) total += level;
  return total;
}

export function callChain(p: CallChainParams): HostileModule {
  const { depth: n, fanout: k, style, via, from } = p;
  if (!Number.isInteger(n) || n < 1 || n > 40) throw new RangeError(`depth must be 1..40, got ${n}`);
  if (!Number.isInteger(k) || k < 2 || k > 8) throw new RangeError(`fan-out must be 2..8, got ${k}`);
  const perLevel = style === "spread" ? k : 1;
  const takesX = style === "if-arms" || style === "br-table";
  const returns = style === "results";
  const fname = (i: number, j: number): string => `$f${i}_${j}`;
  const indirectFrom = (i: number): boolean =>
    via === "indirect" ||
    via === "typed-indirect" ||
    (via === "mixed" && i % 2 === 0) ||
    (via === "one-indirect-hop" && i === Math.floor(n / 2));
  const dummies = (i: number): number => (via === "typed-indirect" ? i : 0);
  const typeName = (i: number): string => (via === "typed-indirect" ? `$t${i}` : "$t");
  const paramList = (i: number): string[] => [...(takesX ? ["i32"] : []), ...Array<string>(dummies(i)).fill("i32")];
  const result = returns ? "(result i64)" : "";

  // The table: every function some indirect call may reach, in level order.
  const table: string[] = [];
  const tableIndex = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    if (!indirectFrom(i)) continue;
    for (let j = 0; j < perLevel; j++) {
      tableIndex.set(fname(i + 1, j), table.length);
      table.push(fname(i + 1, j));
    }
  }

  const callTo = (level: number, j: number, x: string, indirect: boolean): string => {
    const args = [...(takesX ? [x] : []), ...Array<string>(dummies(level)).fill("(i32.const 0)")].join(" ");
    const target = fname(level, j);
    return indirect
      ? `(call_indirect (type ${typeName(level)}) ${args} (i32.const ${tableIndex.get(target)!}))`
      : `(call ${target} ${args})`;
  };
  /** The K calls of level i, passing `x` down; summed into one value in the results style. */
  const calls = (i: number, x: string): string => {
    const list = Array.from({ length: k }, (_, c) => callTo(i + 1, style === "spread" ? c : 0, x, indirectFrom(i)));
    return returns ? list.reduce((sum, c) => `(i64.add ${sum} ${c})`, "(i64.const 1)") : list.join(" ");
  };
  const x = (delta: number): string => `(i32.add (local.get 0) (i32.const ${delta}))`;

  const types: string[] = [];
  const params = (i: number): string => (paramList(i).length > 0 ? `(param ${paramList(i).join(" ")})` : "");
  if (via === "typed-indirect") for (let i = 0; i <= n; i++) types.push(`(type ${typeName(i)} (func ${params(i)} ${result}))`);
  else types.push(`(type $t (func ${params(0)} ${result}))`);

  const funcs: string[] = [];
  for (let i = 0; i <= n; i++) {
    for (let j = 0; j < perLevel; j++) {
      const head = `(func ${fname(i, j)} ${i === 0 && j === 0 && from === "export" ? `(export "chain") ` : ""}(type ${typeName(i)})`;
      let body: string;
      if (i === n) body = returns ? "(i64.const 1)" : "";
      else if (style === "if-arms")
        body = `(if ${result} (i32.and (local.get 0) (i32.const 1)) (then ${calls(i, x(1))}) (else ${calls(i, x(2))}))`;
      else if (style === "br-table") {
        body = `(block $done (block $b2 (block $b1 (block $b0 (br_table $b0 $b1 $b2 (i32.rem_u (local.get 0) (i32.const 3))))
          ${calls(i, x(1))} (br $done)) ${calls(i, x(2))} (br $done)) ${calls(i, x(4))})`;
      } else body = calls(i, "");
      funcs.push(`${head} ${bump(FUEL_FLOOR.call)} ${body})`);
    }
  }

  const total = chainCalls(n, k);
  const rootCall = callTo(0, 0, "(i32.const 0)", false);
  let entry = "main";
  let args: number[] = [];
  let expected: bigint | null = BigInt(total);
  if (from === "main") {
    funcs.push(
      returns ? `(func (export "main") (result i64) ${rootCall})` : `(func (export "main") (result i64) ${rootCall} (global.get $work))`,
    );
  } else if (from === "export") {
    entry = "chain";
    args = paramList(0).map(() => 0);
    if (!returns) expected = null;
  } else {
    funcs.push(
      `(func $boot ${returns ? `(drop ${rootCall})` : rootCall})`,
      `(start $boot)`,
      `(func (export "main") (result i64) (global.get $work))`,
    );
  }

  const text = `(module ${types.join(" ")} ${memory(1)} ${WORK_GLOBAL}
    ${table.length > 0 ? `(table ${table.length} funcref) (elem (i32.const 0) ${table.join(" ")})` : ""}
    ${funcs.join("\n")})`;
  return {
    family: "call-chain",
    name: `call-chain ${style}/${via} from ${from}, depth ${n}, fan-out ${k}`,
    bytes: assemble(text),
    entry,
    args,
    counter: COUNTER,
    totalWork: total * FUEL_FLOOR.call,
    maxOpWork: FUEL_FLOOR.call,
    expected,
    host: NO_HOST,
  };
}

// ---- (d) recursion whose frames do long straight-line work after the recursive call returns ----

export interface RecursionParams {
  /** Recursion depth D: frames D, D-1, …, 0. */
  depth: number;
  /** Straight-line steps each frame runs after its recursive call returns. */
  postWork: number;
  /** Functions on the cycle: 1 = self-recursion, 2+ = mutual recursion r0 → r1 → … → r0. */
  cycle: number;
  via: "direct" | "indirect";
  /** The post-work in the frame itself, or in a non-recursive helper the frame calls after the return. */
  postIn: "frame" | "callee";
}

export function recursion(p: RecursionParams): HostileModule {
  const { depth: d, postWork: w, cycle, via, postIn } = p;
  if (!Number.isInteger(d) || d < 1 || d > 20_000) throw new RangeError(`depth must be 1..20000, got ${d}`);
  // 16,000 steps stay under the engine's 256 KiB limit on a function body.
  if (!Number.isInteger(w) || w < 1 || w > 16_000) throw new RangeError(`post-work must be 1..16000, got ${w}`);
  if (!Number.isInteger(cycle) || cycle < 1 || cycle > 8) throw new RangeError(`cycle must be 1..8, got ${cycle}`);
  const steps = times(w, bump(FUEL_FLOOR.step));
  const funcs: string[] = [];
  for (let r = 0; r < cycle; r++) {
    const next = (r + 1) % cycle;
    const down = `(i32.sub (local.get 0) (i32.const 1))`;
    const call = via === "direct" ? `(call $r${next} ${down})` : `(call_indirect (type $rec) ${down} (i32.const ${next}))`;
    const post = postIn === "frame" ? steps : "(call $post)";
    funcs.push(`(func $r${r} (type $rec) ${bump(FUEL_FLOOR.call)} (if (i32.gt_s (local.get 0) (i32.const 0)) (then ${call})) ${post})`);
  }
  if (postIn === "callee") funcs.push(`(func $post ${bump(FUEL_FLOOR.call)} ${steps})`);
  funcs.push(`(func (export "main") (param i32) (result i64) (call $r0 (local.get 0)) (global.get $work))`);
  const table =
    via === "indirect"
      ? `(table ${cycle} funcref) (elem (i32.const 0) ${Array.from({ length: cycle }, (_, r) => `$r${r}`).join(" ")})`
      : "";
  const perFrame = FUEL_FLOOR.call + w * FUEL_FLOOR.step + (postIn === "callee" ? FUEL_FLOOR.call : 0);
  const total = (d + 1) * perFrame;
  return {
    family: "recursion",
    name: `recursion ${cycle === 1 ? "self" : `cycle of ${cycle}`}/${via}, post-work in ${postIn}, depth ${d}, ${w} steps after each return`,
    bytes: assemble(`(module (type $rec (func (param i32))) ${memory(1)} ${WORK_GLOBAL} ${table} ${funcs.join("\n")})`),
    entry: "main",
    args: [d],
    counter: COUNTER,
    totalWork: total,
    maxOpWork: FUEL_FLOOR.step,
    expected: BigInt(total),
    host: NO_HOST,
  };
}

// ---- (e)–(h): work that is not guest instructions, repeated ----

/** How the repeated operation is laid out: a loop, a straight-line run, or straight-line calls to a helper. */
export type Repeat = "loop" | "straight" | "helper";
export const REPEATS: readonly Repeat[] = ["loop", "straight", "helper"];

/**
 * Straight-line operations per function: a longer run is split over several functions that main
 * calls in turn (still no loop between them), so a module stays inside the per-function limits the
 * engine enforces on calls and body size (runtime/limits.ts).
 */
const STRAIGHT_PER_FUNCTION = 500;

/**
 * `count` repetitions of `op` (which bumps `work` itself, after its work). A loop is the classic
 * form; a straight run or calls to a helper put many of them between two loop headers.
 */
function repeat(how: Repeat, count: number, op: string, opLocals = ""): { locals: string; main: string; extra: string } {
  if (how === "loop") {
    return {
      locals: `(local $i i32) ${opLocals}`,
      main: `(loop $again (if (i32.lt_u (local.get $i) (i32.const ${count})) (then ${op} (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $again))))`,
      extra: "",
    };
  }
  const unit = how === "straight" ? op : "(call $op)";
  const helper = how === "helper" ? `(func $op ${opLocals} ${op})` : "";
  const locals = how === "straight" ? opLocals : "";
  if (count <= STRAIGHT_PER_FUNCTION) return { locals, main: times(count, unit), extra: helper };
  const parts: string[] = [];
  for (let done = 0, k = 0; done < count; done += STRAIGHT_PER_FUNCTION, k++) {
    parts.push(`(func $part${k} ${locals} ${times(Math.min(STRAIGHT_PER_FUNCTION, count - done), unit)})`);
  }
  return { locals: "", main: parts.map((_, k) => `(call $part${k})`).join(" "), extra: `${helper} ${parts.join("\n")}` };
}

function checkCount(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max) throw new RangeError(`${name} must be 1..${max}, got ${value}`);
}

/** Work of an operation that moves `bytes` (a constant). */
const movedWork = (bytes: number): number => FUEL_FLOOR.op + kib(bytes) * FUEL_FLOOR.movedKib;
/** Bump `work` by the work of an operation that moved the bytes an i32 expression gives. */
const bumpMoved = (bytes: string): string =>
  `(global.set $work (i64.add (global.get $work) (i64.add (i64.const ${FUEL_FLOOR.op}) (i64.mul (i64.extend_i32_u (i32.shr_u ${bytes} (i32.const 10))) (i64.const ${FUEL_FLOOR.movedKib})))))`;

export interface MemoryGrowParams {
  /** memory.grow instructions executed. */
  count: number;
  /** Pages each grows by. */
  delta: number;
  repeat: Repeat;
}

/** Work of a grow that leaves the memory `pages` long. */
const grownWork = (pages: number): number => FUEL_FLOOR.op + pages * 64 * FUEL_FLOOR.grownKib;

export function memoryGrow(p: MemoryGrowParams): HostileModule {
  checkCount("count", p.count, 65_535);
  checkCount("delta", p.delta, 65_535);
  // Counted only when the grow succeeds, by the memory's new size.
  const op = `(if (i32.ne (memory.grow (i32.const ${p.delta})) (i32.const -1)) (then
    (global.set $work (i64.add (global.get $work) (i64.add (i64.const ${FUEL_FLOOR.op}) (i64.mul (i64.extend_i32_u (memory.size)) (i64.const ${64 * FUEL_FLOOR.grownKib})))))))`;
  const body = repeat(p.repeat, p.count, op);
  let total = 0;
  for (let i = 1; i <= p.count; i++) total += grownWork(1 + i * p.delta);
  const pages = 1 + p.count * p.delta;
  return {
    family: "memory-grow",
    name: `memory-grow ${p.repeat}, ${p.count} × memory.grow(${p.delta})`,
    bytes: assemble(
      `(module ${memory(1)} ${WORK_GLOBAL} ${body.extra} (func (export "main") (result i64) ${body.locals} ${body.main} (global.get $work)))`,
    ),
    entry: "main",
    args: [],
    counter: COUNTER,
    totalWork: total,
    maxOpWork: grownWork(pages),
    // As computed only while every grow succeeds: the engine's cap must allow `memoryPages`.
    expected: BigInt(total),
    host: { ...NO_HOST, memoryPages: pages },
  };
}

export interface BulkMemoryParams {
  op: "fill" | "copy";
  /** Bytes each instruction fills or copies. */
  bytes: number;
  count: number;
  repeat: Repeat;
}

export function bulkMemory(p: BulkMemoryParams): HostileModule {
  checkCount("bytes", p.bytes, 1 << 30);
  checkCount("count", p.count, 1 << 20);
  const opWork = movedWork(p.bytes);
  // copy reads from 64 KiB in: an overlapping move, as memmove must handle.
  const instr =
    p.op === "fill"
      ? `(memory.fill (i32.const 0) (i32.const 7) (i32.const ${p.bytes}))`
      : `(memory.copy (i32.const 0) (i32.const ${PAGE}) (i32.const ${p.bytes}))`;
  const pages = pagesFor(p.bytes + (p.op === "copy" ? PAGE : 0));
  const body = repeat(p.repeat, p.count, `${instr} ${bump(opWork)}`);
  return {
    family: "bulk-memory",
    name: `bulk-memory ${p.op} ${p.repeat}, ${p.count} × ${p.bytes} bytes`,
    bytes: assemble(
      `(module ${memory(pages)} ${WORK_GLOBAL} ${body.extra} (func (export "main") (result i64) ${body.locals} ${body.main} (global.get $work)))`,
    ),
    entry: "main",
    args: [],
    counter: COUNTER,
    totalWork: p.count * opWork,
    maxOpWork: opWork,
    expected: BigInt(p.count * opWork),
    host: { ...NO_HOST, memoryPages: pages },
  };
}

export interface TableParams {
  /** fill and copy write `elements` elements each; grow adds `elements` to a table that starts empty. */
  op: "fill" | "copy" | "grow";
  elements: number;
  count: number;
  repeat: Repeat;
}

/** Work of a table.grow that leaves the table `size` elements long. */
const tableGrownWork = (size: number): number => FUEL_FLOOR.op + Math.floor(size / 16) * FUEL_FLOOR.grownTableElements16;

/** table.fill and table.copy of whole tables, and table.grow to 100,000 elements (the engine's table limit). */
export function tableOps(p: TableParams): HostileModule {
  checkCount("elements", p.elements, 100_000);
  checkCount("count", p.count, p.op === "grow" ? Math.floor(100_000 / p.elements) : 1 << 20);
  let table: string;
  let op: string;
  let total: number;
  let maxOpWork: number;
  if (p.op === "grow") {
    // Counted only when the grow succeeds, by the table's new size.
    table = `(table $T 0 ${p.count * p.elements} funcref)`;
    op = `(if (i32.ne (table.grow $T (ref.null func) (i32.const ${p.elements})) (i32.const -1)) (then
      (global.set $work (i64.add (global.get $work) (i64.add (i64.const ${FUEL_FLOOR.op}) (i64.mul (i64.extend_i32_u (i32.shr_u (table.size $T) (i32.const 4))) (i64.const ${FUEL_FLOOR.grownTableElements16})))))))`;
    total = 0;
    for (let i = 1; i <= p.count; i++) total += tableGrownWork(i * p.elements);
    maxOpWork = tableGrownWork(p.count * p.elements);
  } else {
    const opWork = FUEL_FLOOR.op + p.elements * FUEL_FLOOR.tableElement;
    table = `(table $T ${p.op === "copy" ? 2 * p.elements : p.elements} funcref)`;
    const instr =
      p.op === "fill"
        ? `(table.fill $T (i32.const 0) (ref.func $f) (i32.const ${p.elements}))`
        : `(table.copy $T $T (i32.const 0) (i32.const ${p.elements}) (i32.const ${p.elements}))`;
    op = `${instr} ${bump(opWork)}`;
    total = p.count * opWork;
    maxOpWork = opWork;
  }
  const body = repeat(p.repeat, p.count, op);
  return {
    family: "table",
    name: `table ${p.op} ${p.repeat}, ${p.count} × ${p.elements} elements`,
    bytes: assemble(
      `(module ${memory(1)} ${WORK_GLOBAL} ${table} (func $f) (elem declare func $f) ${body.extra} (func (export "main") (result i64) ${body.locals} ${body.main} (global.get $work)))`,
      FEATURES | F.ReferenceTypes,
    ),
    entry: "main",
    args: [],
    counter: COUNTER,
    totalWork: total,
    maxOpWork,
    expected: BigInt(total),
    host: NO_HOST,
  };
}

export interface HostCallParams {
  /** ferry.output_write, ferry.log or ferry.input_read. */
  call: "output" | "log" | "input";
  /** Bytes each call moves. */
  bytes: number;
  count: number;
  repeat: Repeat;
}

const HOST_CALL = {
  output: {
    family: "host-output",
    import: `(import "ferry" "output_write" (func $host (param i32 i32)))`,
    op: (n: number) => `(call $host (i32.const 0) (i32.const ${n}))`,
  },
  log: {
    family: "host-log",
    import: `(import "ferry" "log" (func $host (param i32 i32)))`,
    op: (n: number) => `(call $host (i32.const 0) (i32.const ${n}))`,
  },
  input: {
    family: "host-input",
    import: `(import "ferry" "input_read" (func $host (param i32 i32 i32) (result i32)))`,
    op: (n: number) => `(drop (call $host (i32.const 0) (i32.const 0) (i32.const ${n})))`,
  },
} as const;

/**
 * What one host call asking to move `bytes` does move (the runtime's limits): input_read returns at
 * most MAX_HOST_IO_BYTES (its contract is "up to len"), a log line is cut at MAX_LOG_LINE_BYTES,
 * output_write takes everything (the instrumentation hands it over in pieces).
 */
function movedByCall(call: HostCallParams["call"], bytes: number): number {
  if (call === "input") return Math.min(bytes, MAX_HOST_IO_BYTES);
  if (call === "log") return Math.min(bytes, MAX_LOG_LINE_BYTES);
  return bytes;
}

/** Host calls that move `bytes` each, `count` times: 16 MiB output writes, log spam, input re-reads. */
export function hostCalls(p: HostCallParams): HostileModule {
  checkCount("bytes", p.bytes, 1 << 30);
  checkCount("count", p.count, 1 << 20);
  const h = HOST_CALL[p.call];
  const opWork = movedWork(movedByCall(p.call, p.bytes));
  const pages = pagesFor(p.bytes);
  const body = repeat(p.repeat, p.count, `${h.op(p.bytes)} ${bump(opWork)}`);
  const moved = p.count * p.bytes;
  return {
    family: h.family,
    name: `${h.family} ${p.repeat}, ${p.count} × ${p.bytes} bytes`,
    // The log line's bytes are 'x' (valid UTF-8, one character each).
    bytes: assemble(`(module ${h.import} ${memory(pages)} ${WORK_GLOBAL} ${body.extra}
      (func (export "main") (result i64) ${body.locals} ${p.call === "log" ? `(memory.fill (i32.const 0) (i32.const 120) (i32.const ${p.bytes}))` : ""} ${body.main} (global.get $work)))`),
    entry: "main",
    args: [],
    counter: COUNTER,
    totalWork: p.count * opWork,
    maxOpWork: opWork,
    expected: BigInt(p.count * opWork),
    host: {
      ...NO_HOST,
      memoryPages: pages,
      inputBytes: p.call === "input" ? p.bytes : 0,
      outputBytes: p.call === "output" ? moved : 0,
      // The log counts a newline per line.
      logBytes: p.call === "log" ? moved + p.count : 0,
    },
  };
}

/** The file every resource shape works on, and the capability it needs. */
export const RESOURCE_NAME = "hostile/big.bin";
export const RESOURCE_CAPABILITY = "hostile/*:rw";

export interface ResourceParams {
  /**
   * reopen: open and close, over and over (each open is file-system work whatever the file's size);
   * read: open, read it all in chunks, close; write: open, write it in chunks, close (which commits
   * it to disk: an fsync of every byte written).
   */
  op: "reopen" | "read" | "write";
  fileBytes: number;
  /** Bytes per resource_read / resource_write call. */
  chunkBytes: number;
  /** Times the whole open … close runs. */
  count: number;
  repeat: Repeat;
}

/** Authenticated resource shapes: re-opening, reading or rewriting a large file, over and over. */
export function resourceLoop(params: ResourceParams): HostileModule {
  checkCount("fileBytes", params.fileBytes, 1 << 30);
  checkCount("chunkBytes", params.chunkBytes, 1 << 30);
  checkCount("count", params.count, 1 << 20);
  // One call moves at most MAX_RESOURCE_IO_BYTES, so the shape asks for no more (a larger ask would
  // be a short read or write, which tests/security/host-call-bounds.test.ts covers).
  const p = { ...params, chunkBytes: Math.min(params.chunkBytes, MAX_RESOURCE_IO_BYTES) };
  const name = RESOURCE_NAME;
  const buffer = PAGE; // the name lives at 0, the chunk buffer from 64 KiB
  const pages = pagesFor(buffer + p.chunkBytes);
  const fileWork = movedWork(p.fileBytes);
  const chunks = Math.ceil(p.fileBytes / p.chunkBytes);
  const open = (flags: number): string => `(local.set $h (call $open (i32.const 0) (i32.const ${name.length}) (i32.const ${flags})))`;
  const close = `(call $close (local.get $h))`;
  let once: string;
  let perOpen: number;
  let maxOp: number;
  if (p.op === "reopen") {
    once = `${open(1)} ${bump(FUEL_FLOOR.open)} ${close} ${bump(FUEL_FLOOR.op)}`;
    perOpen = FUEL_FLOOR.open + FUEL_FLOOR.op;
    maxOp = FUEL_FLOOR.open;
  } else if (p.op === "read") {
    // Reads until the end (a read returning 0): `chunks` reads with bytes, then an empty one.
    once = `${open(1)} ${bump(FUEL_FLOOR.open)}
      (loop $reading (local.set $n (call $read (local.get $h) (i32.const ${buffer}) (i32.const ${p.chunkBytes}))) ${bumpMoved("(local.get $n)")}
        (br_if $reading (i32.gt_s (local.get $n) (i32.const 0))))
      ${close} ${bump(FUEL_FLOOR.op)}`;
    const last = p.fileBytes - (chunks - 1) * p.chunkBytes;
    perOpen = FUEL_FLOOR.open + (chunks - 1) * movedWork(p.chunkBytes) + movedWork(last) + FUEL_FLOOR.op + FUEL_FLOOR.op;
    maxOp = Math.max(FUEL_FLOOR.open, movedWork(p.chunkBytes));
  } else {
    // Writes the file in chunks (the last one short), then closes: the close commits it all.
    const last = p.fileBytes - (chunks - 1) * p.chunkBytes;
    once = `${open(2)} ${bump(FUEL_FLOOR.open)} (local.set $n (i32.const 0))
      (loop $writing (if (i32.lt_u (local.get $n) (i32.const ${chunks - 1}))
        (then (drop (call $write (local.get $h) (i32.const ${buffer}) (i32.const ${p.chunkBytes}))) ${bump(movedWork(p.chunkBytes))}
              (local.set $n (i32.add (local.get $n) (i32.const 1))) (br $writing))))
      (drop (call $write (local.get $h) (i32.const ${buffer}) (i32.const ${last}))) ${bump(movedWork(last))}
      ${close} ${bump(fileWork)}`;
    perOpen = FUEL_FLOOR.open + (chunks - 1) * movedWork(p.chunkBytes) + movedWork(last) + fileWork;
    maxOp = Math.max(fileWork, movedWork(p.chunkBytes));
  }
  const body = repeat(p.repeat, p.count, once, "(local $h i32) (local $n i32)");
  return {
    family: "resource",
    name: `resource ${p.op} ${p.repeat}, ${p.count} × a ${p.fileBytes}-byte file in ${p.chunkBytes}-byte chunks`,
    bytes: assemble(`(module
      (import "ferry" "resource_open" (func $open (param i32 i32 i32) (result i32)))
      (import "ferry" "resource_read" (func $read (param i32 i32 i32) (result i32)))
      (import "ferry" "resource_write" (func $write (param i32 i32 i32) (result i32)))
      (import "ferry" "resource_close" (func $close (param i32)))
      ${memory(pages)} ${WORK_GLOBAL} (data (i32.const 0) "${name}") ${body.extra}
      (func (export "main") (result i64) ${body.locals} ${body.main} (global.get $work)))`),
    entry: "main",
    args: [],
    counter: COUNTER,
    totalWork: p.count * perOpen,
    maxOpWork: maxOp,
    expected: BigInt(p.count * perOpen),
    host: {
      ...NO_HOST,
      trust: "authenticated",
      memoryPages: pages,
      files: p.op === "write" ? [] : [{ name, bytes: p.fileBytes }],
      capabilities: [RESOURCE_CAPABILITY],
    },
  };
}

// ---- content the host provides ----

/** The input a host-input shape reads: `n` bytes of a fixed pattern. */
export function inputBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

/** The content of a resource file a shape opens. */
export function fileBytes(n: number): Uint8Array {
  return inputBytes(n);
}

// ---- the raw run: the module as V8 runs it, uninstrumented, with plain host functions ----

/**
 * Run `m` uninstrumented in V8 with minimal host functions (output and log counted, input and
 * resources served from memory), returning the entry's value: what an instrumented run that
 * completes must return too. Runs the start function first, as instantiation does.
 */
export function runRaw(m: HostileModule): bigint | null {
  // Short reads and writes as the runtime makes them (at most MAX_HOST_IO_BYTES a call).
  const host = rawHost({ input: inputBytes(m.host.inputBytes), maxReadBytes: MAX_HOST_IO_BYTES, discardOutput: true });
  const mem = host.bytes;
  const files = new Map(m.host.files.map((f) => [f.name, fileBytes(f.bytes)]));
  const handles = new Map<number, { name: string; data: Uint8Array; pos: number; written: Uint8Array[] }>();
  let nextHandle = 1;
  const text = new TextDecoder();
  const ferry = {
    ...host.imports.ferry,
    resource_open: (ptr: number, len: number, flags: number) => {
      const name = text.decode(mem().subarray(ptr, ptr + len));
      const data = flags & 2 ? new Uint8Array(0) : files.get(name);
      if (!data) return -1;
      handles.set(nextHandle, { name, data, pos: 0, written: [] });
      return nextHandle++;
    },
    resource_read: (h: number, dst: number, len: number) => {
      const r = handles.get(h)!;
      const n = Math.min(len, MAX_RESOURCE_IO_BYTES, r.data.byteLength - r.pos);
      mem().set(r.data.subarray(r.pos, r.pos + n), dst);
      r.pos += n;
      return n;
    },
    resource_write: (h: number, src: number, len: number) => {
      const n = Math.min(len, MAX_RESOURCE_IO_BYTES);
      handles.get(h)!.written.push(mem().slice(src, src + n));
      return n;
    },
    resource_close: (h: number) => {
      const r = handles.get(h)!;
      if (r.written.length > 0) files.set(r.name, Buffer.concat(r.written));
      handles.delete(h);
    },
  };
  // (No shape's start function calls the host, so the memory is needed only after instantiation.)
  const instance = new WebAssembly.Instance(new WebAssembly.Module(m.bytes as BufferSource), { ferry });
  host.attach(instance.exports.memory as WebAssembly.Memory);
  const value = (instance.exports[m.entry] as (...a: number[]) => unknown)(...m.args);
  return value === undefined ? null : BigInt(value as bigint);
}

// ---- random variants, for the fuzzer ----

/** One family's generator of random variants, sized so a complete (unmetered) run stays well under a second. */
export interface HostileFamilySpec {
  family: HostileFamily;
  draw(rng: Draw): HostileModule;
}

const pick = <T>(rng: Draw, items: readonly T[]): T => items[rng.int(items.length)]!;
const between = (rng: Draw, lo: number, hi: number): number => lo + rng.int(hi - lo + 1);

/**
 * Most operations a drawn straight or helper form repeats: past one function's worth (and a few
 * more, so the split into parts still occurs) an unrolled run shows the meter nothing new, while its
 * instrumentation grows faster than its size (4,000 straight log calls: ~3 s, most of a fuzz run's
 * compile time). Loops, which cost nothing to instrument, keep the full counts.
 */
const UNROLLED_DRAW_MAX = STRAIGHT_PER_FUNCTION + 100;
const unrolledMax = (repeat: Repeat, max: number): number => (repeat === "loop" ? max : Math.min(max, UNROLLED_DRAW_MAX));

export const HOSTILE_FAMILIES: readonly HostileFamilySpec[] = [
  {
    family: "call-chain",
    draw: (rng) => {
      const fanout = between(rng, 2, 4);
      // At most ~2^20 calls: milliseconds when metered right, well under a second when not.
      const depth = between(rng, 4, Math.floor(20 / Math.log2(fanout)));
      return callChain({ depth, fanout, style: pick(rng, CHAIN_STYLES), via: pick(rng, CHAIN_CALLS), from: pick(rng, CHAIN_ROOTS) });
    },
  },
  {
    family: "recursion",
    draw: (rng) =>
      recursion({
        depth: between(rng, 16, 2_000),
        // Recursive functions with many thousands of steps take tens of seconds to instrument.
        postWork: between(rng, 16, 1_000),
        cycle: between(rng, 1, 3),
        via: pick(rng, ["direct", "indirect"] as const),
        postIn: pick(rng, ["frame", "callee"] as const),
      }),
  },
  {
    family: "memory-grow",
    draw: (rng) => {
      const delta = pick(rng, [1, 1, 2, 16]);
      const repeat = pick(rng, REPEATS);
      return memoryGrow({ count: between(rng, 16, unrolledMax(repeat, Math.floor(1_024 / delta))), delta, repeat });
    },
  },
  {
    family: "bulk-memory",
    draw: (rng) =>
      bulkMemory({
        op: pick(rng, ["fill", "copy"] as const),
        bytes: between(rng, 1, 256) * 65_536,
        count: between(rng, 2, 32),
        repeat: pick(rng, REPEATS),
      }),
  },
  {
    family: "table",
    draw: (rng) => {
      const op = pick(rng, ["fill", "copy", "grow"] as const);
      const repeat = pick(rng, REPEATS);
      if (op === "grow") {
        const elements = between(rng, 1, 100) * 100;
        return tableOps({ op, elements, count: between(rng, 1, Math.floor(100_000 / elements)), repeat });
      }
      // A whole-table fill of 50,000 elements is a few ms: at most about a second unmetered.
      return tableOps({ op, elements: between(rng, 1, 50) * 1_000, count: between(rng, 2, unrolledMax(repeat, 64)), repeat });
    },
  },
  {
    family: "host-output",
    draw: (rng) =>
      hostCalls({ call: "output", bytes: between(rng, 1, 64) * 65_536, count: between(rng, 2, 16), repeat: pick(rng, REPEATS) }),
  },
  {
    family: "host-log",
    draw: (rng) => {
      const repeat = pick(rng, REPEATS);
      return rng.int(2) === 0
        ? hostCalls({ call: "log", bytes: between(rng, 1, 16), count: between(rng, 256, unrolledMax(repeat, 4_096)), repeat })
        : hostCalls({ call: "log", bytes: between(rng, 1, 16) * 4_096, count: between(rng, 2, 64), repeat });
    },
  },
  {
    family: "host-input",
    draw: (rng) =>
      hostCalls({ call: "input", bytes: between(rng, 1, 64) * 65_536, count: between(rng, 2, 16), repeat: pick(rng, REPEATS) }),
  },
  {
    family: "resource",
    draw: (rng) => {
      const fileBytes = between(rng, 1, 32) * 65_536;
      return resourceLoop({
        op: pick(rng, ["reopen", "read", "write"] as const),
        fileBytes,
        chunkBytes: pick(rng, [4_096, 65_536, fileBytes]),
        count: between(rng, 2, 8),
        repeat: pick(rng, REPEATS),
      });
    },
  },
];

/** A random hostile module of a random family. */
export function drawHostile(rng: Draw): HostileModule {
  return pick(rng, HOSTILE_FAMILIES).draw(rng);
}

// ---- assembling ----

// The proposals Ferry accepts; binaryen's default feature set would encode some constructs in forms V8 20 lacks.
const F = binaryen.Features;
const FEATURES = F.MVP | F.MutableGlobals | F.SignExt | F.NontrappingFPToInt | F.BulkMemory | F.BulkMemoryOpt | F.Multivalue;

/**
 * `count` copies of `code` in a row. Written as one copy in a block labelled `__times_<count>`,
 * which `assemble` expands after parsing: Binaryen's text parser takes ~0.4 ms per instruction
 * sequence, far too slow for the fuzzer's long straight runs, while copying parsed IR is cheap.
 */
function times(count: number, code: string): string {
  // Copies of labelled code would repeat its labels, which Binaryen's IR forbids: such code (a few
  // copies at most here) is repeated as text, each copy with its own labels.
  const labels = [...code.matchAll(/\((?:loop|block) \$([\w.]+)/g)].map((l) => l[1]!);
  if (labels.length > 0) {
    const label = new RegExp(`\\$(${labels.join("|")})\\b`, "g");
    return Array.from({ length: count }, (_, k) => code.replace(label, (_m, name: string) => `$${name}_${k}`)).join("\n");
  }
  return `(block $__times_${count} ${code})`;
}

const TIMES_LABEL = /^__times_(\d+)/;
/** Block accessors binaryen.js provides at run time but its typings omit. */
const Block = (
  binaryen as unknown as {
    Block: { getChildren(e: number): number[]; getName(e: number): string | null; setChildren(e: number, children: number[]): void };
  }
).Block;

/** Expand every `times` block reachable through blocks from a function's body. */
function expandTimes(m: binaryen.Module, expr: number): void {
  if (binaryen.getExpressionId(expr) !== binaryen.BlockId) return;
  const children = Block.getChildren(expr);
  const label = TIMES_LABEL.exec(Block.getName(expr) ?? "");
  if (label) {
    const count = Number(label[1]);
    const copies: number[] = [];
    for (let k = 0; k < count; k++) for (const child of children) copies.push(k === 0 ? child : m.copyExpression(child));
    Block.setChildren(expr, copies);
    return;
  }
  for (const child of children) expandTimes(m, child);
}

/** WAT text → binary. */
function assemble(text: string, features = FEATURES): Uint8Array {
  const m = binaryen.parseText(text);
  try {
    m.setFeatures(features);
    for (let f = 0; f < m.getNumFunctions(); f++) {
      const body = binaryen.getFunctionInfo(m.getFunctionByIndex(f)).body;
      if (body) expandTimes(m, body);
    }
    if (!m.validate()) throw new Error(`hostile-shapes: generated module does not validate:\n${text.slice(0, 2_000)}`);
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}
