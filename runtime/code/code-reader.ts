// Reads function bodies just far enough to measure what makes instrumentation expensive: body size,
// locals, instructions, loops, calls, block nesting and br_table width per function. Runs before any
// byte reaches Binaryen, on bytes V8's validator has already accepted, so it only has to decode,
// not to validate; an opcode of a proposal Ferry does not instrument is refused by name.

import { FerryError } from "../errors.js";
import { Reader, type ModuleStructure } from "./wasm-reader.js";

export interface FunctionStats {
  /** Index in the function space (imports first). */
  index: number;
  bodyBytes: number;
  /** Parameters plus declared locals. */
  locals: number;
  instructions: number;
  loops: number;
  /** `call` and `call_indirect`. */
  calls: number;
  /** Deepest nesting of block, loop and if. */
  maxDepth: number;
  /** Deepest nesting of loops and ifs alone (plain blocks, as switch lowering nests them, are cheap). */
  maxLoopIfDepth: number;
  /** Targets of all its br_tables together. */
  brTableTargets: number;
}

/**
 * Told of every table instruction and `ref.func` as a body is read: the opcode (0xfc ops as
 * 0xfc00 + their sub-opcode), its immediates, and where the whole instruction lies in `bytes`.
 */
export type TableInstructionHook = (op: number, immediates: number[], start: number, end: number) => void;

/**
 * Calls `visit` with the stats of each defined function, in order. `visit` may throw to stop early
 * (a cap exceeded); nothing after that function is read. `onTableInstruction` (called before
 * `visit` for the function's instructions) sees its table instructions.
 */
export function readFunctionStats(
  bytes: Uint8Array,
  s: ModuleStructure,
  visit: (f: FunctionStats) => void,
  onTableInstruction?: TableInstructionHook,
): void {
  if (!s.code) return;
  const r = new Reader(bytes, s.code.end);
  r.pos = s.code.start;
  const count = r.u32();
  const imported = s.imports.filter((i) => i.kind === "func").length;
  for (let i = 0; i < count; i++) {
    const size = r.u32();
    const start = r.pos;
    const end = start + size;
    const body = new Reader(bytes, end);
    body.pos = start;
    const index = imported + i;
    const sig = s.types[s.functionTypes[index] ?? -1];
    let locals = sig?.params.length ?? 0;
    const groups = body.u32();
    for (let g = 0; g < groups; g++) {
      locals += body.u32();
      body.valtype();
    }
    const f: FunctionStats = {
      index,
      bodyBytes: size,
      locals,
      instructions: 0,
      loops: 0,
      calls: 0,
      maxDepth: 0,
      maxLoopIfDepth: 0,
      brTableTargets: 0,
    };
    readInstructions(body, f, onTableInstruction);
    visit(f);
    r.pos = end;
  }
}

function unsupported(f: FunctionStats, what: string): never {
  throw new FerryError("unsupported_feature", `${what} in function ${f.index}`);
}

/** 0xfc sub-opcodes of the table instructions (table.init … table.fill). */
const TABLE_MISC_OPS = new Set([12, 13, 14, 15, 16, 17]);

function readInstructions(r: Reader, f: FunctionStats, hook?: TableInstructionHook): void {
  const nesting = new Nesting(f);
  while (r.pos < r.end) {
    const start = r.pos;
    const op = r.byte();
    f.instructions++;
    if (op === 0x02 || op === 0x03 || op === 0x04) {
      // block, loop, if
      if (op === 0x03) f.loops++;
      blockType(r);
      nesting.open(op !== 0x02);
    } else if (op === 0x0b)
      nesting.close(); // end (the last one closes the body)
    else readImmediates(r, f, op, start, hook);
  }
  // V8 accepted the body, so a mismatch means this decoder misread it: refuse rather than guess.
  if (nesting.depth !== -1) throw new FerryError("invalid_wasm", `function ${f.index}: body does not end where its size says`);
}

/** The open constructs of a body: how deep, and how deep in loops and ifs (the caps' measures). */
class Nesting {
  depth = 0;
  private loopIfDepth = 0;
  /** Per open construct: 1 if it is a loop or an if (so its `end` lowers loopIfDepth). */
  private kinds = new Uint8Array(64);

  constructor(private readonly f: FunctionStats) {}

  open(loopOrIf: boolean): void {
    const f = this.f;
    this.depth++;
    if (this.depth > f.maxDepth) f.maxDepth = this.depth;
    if (this.depth >= this.kinds.length) {
      const grown = new Uint8Array(this.kinds.length * 2);
      grown.set(this.kinds);
      this.kinds = grown;
    }
    this.kinds[this.depth] = loopOrIf ? 1 : 0;
    if (loopOrIf && ++this.loopIfDepth > f.maxLoopIfDepth) f.maxLoopIfDepth = this.loopIfDepth;
  }

  close(): void {
    if (this.depth > 0 && this.kinds[this.depth] === 1) this.loopIfDepth--;
    this.depth--;
  }
}

function memarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.u32(); // multi-memory index (refused later, by the structure check)
  r.skipLeb();
}

/** Skip one instruction's immediates (counting calls and br_table targets), refusing what Ferry does not instrument. */
function readImmediates(r: Reader, f: FunctionStats, op: number, start: number, hook?: TableInstructionHook): void {
  switch (op) {
    case 0x0c: // br
    case 0x0d: // br_if
    case 0x20: // local.get / set / tee
    case 0x21:
    case 0x22:
    case 0x23: // global.get / set
    case 0x24:
    case 0x3f: // memory.size / grow
    case 0x40:
      r.u32();
      return;
    case 0xd2: // ref.func
    case 0x25: // table.get / set
    case 0x26: {
      const index = r.u32();
      hook?.(op, [index], start, r.pos);
      return;
    }
    case 0x0e: {
      const n = r.u32();
      f.brTableTargets += n + 1;
      for (let i = 0; i <= n; i++) r.u32();
      return;
    }
    case 0x10:
    case 0x11:
      f.calls++;
      r.u32();
      if (op === 0x11) r.u32();
      return;
    case 0x1c: {
      const n = r.u32();
      for (let i = 0; i < n; i++) if (r.valtype() === "other") unsupported(f, "a typed select of a GC reference type");
      return;
    }
    case 0x41:
    case 0x42:
      r.skipLeb();
      return;
    case 0x43:
      r.skip(4);
      return;
    case 0x44:
      r.skip(8);
      return;
    case 0xd0: // ref.null t
      r.byte();
      return;
    case 0xfc: {
      const sub = miscOp(r, f);
      if (hook && TABLE_MISC_OPS.has(sub.op)) hook(0xfc00 + sub.op, sub.immediates, start, r.pos);
      return;
    }
    case 0xfd:
      simdOp(r, f, () => memarg(r));
      return;
  }
  if (op >= 0x28 && op <= 0x3e) memarg(r);
  else if (!(op <= 0x01 || op === 0x05 || op === 0x0f || op === 0x1a || op === 0x1b || (op >= 0x45 && op <= 0xc4) || op === 0xd1)) {
    unsupported(f, `opcode 0x${op.toString(16)} (${PROPOSAL_OF[op] ?? "a proposal Ferry does not instrument"})`);
  }
}

const PROPOSAL_OF: Record<number, string> = {
  6: "exception handling",
  7: "exception handling",
  8: "exception handling",
  9: "exception handling",
  24: "exception handling",
  25: "exception handling",
  31: "exception handling",
  18: "tail calls",
  19: "tail calls",
  20: "typed function references",
  21: "typed function references",
  211: "typed function references",
  212: "typed function references",
  213: "typed function references",
  214: "typed function references",
  251: "GC",
  254: "threads",
};

/** 0x40 (none), a value type, or a type index (s33, multi-value). */
function blockType(r: Reader): void {
  const b = r.bytes[r.pos]!;
  if (b === 0x40 || (b >= 0x6f && b <= 0x7f)) {
    r.pos++;
    return;
  }
  r.skipLeb();
}

/** 0xfc: saturating truncation, bulk memory and table operations. */
function miscOp(r: Reader, f: FunctionStats): { op: number; immediates: number[] } {
  const sub = r.u32();
  if (sub <= 7) return { op: sub, immediates: [] };
  switch (sub) {
    case 8: // memory.init data, memory
    case 10: // memory.copy dst, src
    case 12: // table.init elem, table
    case 14: // table.copy dst, src
      return { op: sub, immediates: [r.u32(), r.u32()] };
    case 9: // data.drop
    case 11: // memory.fill
    case 13: // elem.drop
    case 15: // table.grow
    case 16: // table.size
    case 17: // table.fill
      return { op: sub, immediates: [r.u32()] };
    default:
      return unsupported(f, `opcode 0xfc ${sub}`);
  }
}

/** 0xfd: SIMD (fixed-width). */
function simdOp(r: Reader, f: FunctionStats, memarg: () => void): void {
  const sub = r.u32();
  if (sub <= 11 || sub === 92 || sub === 93) memarg();
  else if (sub === 12 || sub === 13)
    r.skip(16); // v128.const, i8x16.shuffle
  else if (sub >= 21 && sub <= 34)
    r.byte(); // extract / replace lane
  else if (sub >= 84 && sub <= 91) {
    memarg(); // load / store lane
    r.byte();
  } else if (sub > 255) unsupported(f, `opcode 0xfd ${sub} (relaxed SIMD)`);
}
