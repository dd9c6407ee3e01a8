// Generated modules whose instrumentation cost grows faster than their size (issue 8 §2): one
// function with N loops each holding a call, N i64 locals live across calls, N tiny functions, deep
// nesting, big br_tables, … Hand-encoded binaries, so a shape of any size is built in milliseconds.
// Used by bench/compile-limits.ts (which derives the compile caps) and the compile-limit tests.

import { sleb32 as sleb, uleb } from "../runtime/code/wasm-encode.js";

function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

/** Appends without spreading (a shape's body can be megabytes: `push(...big)` overflows the stack). */
class Bytes {
  private buf = new Uint8Array(1024);
  length = 0;
  push(...xs: number[]): this {
    return this.append(xs);
  }
  append(xs: ArrayLike<number>): this {
    if (this.length + xs.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + xs.length));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(xs, this.length);
    this.length += xs.length;
    return this;
  }
  /** `xs` `times` times. */
  repeat(xs: ArrayLike<number>, times: number): this {
    for (let i = 0; i < times; i++) this.append(xs);
    return this;
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const I32 = 0x7f;
const I64 = 0x7e;
const VOID = 0x40;
const OP = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  brTable: 0x0e,
  call: 0x10,
  drop: 0x1a,
  localGet: 0x20,
  localSet: 0x21,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Add: 0x6a,
  i64Add: 0x7c,
  i32WrapI64: 0xa7,
  i64ExtendI32U: 0xad,
} as const;

export interface FunctionDef {
  /** Index into the module's types: 0 = () -> (), 1 = (i32) -> (i32), 2 = () -> (i32). */
  type: 0 | 1 | 2;
  /** Declared locals as (count, valtype) groups. */
  locals?: Array<[number, number]>;
  /** Instructions, without the final `end`. */
  code: Uint8Array;
}

const TYPES = [
  [0x60, 0x00, 0x00], // () -> ()
  [0x60, 0x01, I32, 0x01, I32], // (i32) -> (i32)
  [0x60, 0x00, 0x01, I32], // () -> (i32)
];

/**
 * A module of the given functions (no imports; the metering pass adds `ferry.yield`), each exported
 * as `f<index>`, and the last one also as `main`. One page of memory.
 */
export function moduleOf(functions: readonly FunctionDef[]): Uint8Array {
  const out = new Bytes().push(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);
  const section = (id: number, content: Uint8Array): void => {
    out.push(id, ...uleb(content.length)).append(content);
  };
  section(
    1,
    new Bytes()
      .push(...uleb(TYPES.length))
      .append(TYPES.flat())
      .bytes(),
  );
  const fs = new Bytes().push(...uleb(functions.length));
  for (const f of functions) fs.push(...uleb(f.type));
  section(3, fs.bytes());
  section(5, new Uint8Array([0x01, 0x00, 0x01]));
  const exports = new Bytes().push(...uleb(functions.length + 1));
  for (let i = 0; i < functions.length; i++) exports.push(...name(`f${i}`), 0x00, ...uleb(i));
  exports.push(...name("main"), 0x00, ...uleb(functions.length - 1));
  section(7, exports.bytes());
  const code = new Bytes().push(...uleb(functions.length));
  for (const f of functions) {
    const body = new Bytes();
    const locals = f.locals ?? [];
    body.push(...uleb(locals.length));
    for (const [count, type] of locals) body.push(...uleb(count), type);
    body.append(f.code).push(OP.end);
    code.push(...uleb(body.length)).append(body.bytes());
  }
  section(10, code.bytes());
  return out.bytes();
}

/** Function 0 of every shape: a leaf with a loop, so it checks fuel and can pause (Asyncify must care). */
const LEAF: FunctionDef = { type: 0, code: new Uint8Array([OP.loop, VOID, OP.i32Const, 0x00, OP.brIf, 0x00, OP.end]) };
const CALL_LEAF = [OP.call, 0x00];

export interface Shape {
  name: string;
  /** What N counts. */
  unit: string;
  build(n: number): Uint8Array;
}

/** The shapes of issue 8 §2 and their relatives: each stresses one thing the caps bound. */
export const SHAPES: readonly Shape[] = [
  {
    name: "loops-with-calls",
    unit: "loops in one function",
    build: (n) => moduleOf([LEAF, { type: 0, code: new Bytes().repeat([OP.loop, VOID, ...CALL_LEAF, OP.end], n).bytes() }]),
  },
  {
    name: "i64-locals-across-calls",
    unit: "i64 locals live across a call",
    build: (n) => {
      // Each local is computed from the argument (nothing to constant-fold), all are live across
      // the call, and all are summed after it.
      const code = new Bytes();
      for (let i = 0; i < n; i++)
        code.push(OP.localGet, 0x00, OP.i64ExtendI32U, OP.i64Const, ...sleb(i), OP.i64Add, OP.localSet, ...uleb(i + 1));
      code.push(...CALL_LEAF);
      code.push(OP.i64Const, 0x00);
      for (let i = 0; i < n; i++) code.push(OP.localGet, ...uleb(i + 1), OP.i64Add);
      code.push(OP.i32WrapI64);
      return moduleOf([LEAF, { type: 1, locals: [[n, I64]], code: code.bytes() }]);
    },
  },
  {
    name: "tiny-functions",
    unit: "functions, each calling the next",
    build: (n) => {
      const fs: FunctionDef[] = [LEAF];
      for (let i = 1; i < n; i++) fs.push({ type: 0, code: new Uint8Array([OP.call, ...uleb(i - 1)]) });
      return moduleOf(fs);
    },
  },
  {
    name: "calls-in-one-function",
    unit: "calls in one function",
    build: (n) => moduleOf([LEAF, { type: 0, code: new Bytes().repeat(CALL_LEAF, n).bytes() }]),
  },
  {
    name: "nested-loops",
    unit: "loops nested in one another, a call inside",
    build: (n) => {
      const code = new Bytes()
        .repeat([OP.loop, VOID], n)
        .push(...CALL_LEAF)
        .repeat([OP.end], n);
      return moduleOf([LEAF, { type: 0, code: code.bytes() }]);
    },
  },
  {
    name: "nested-blocks",
    unit: "blocks nested in one another, a call in each",
    build: (n) => {
      const code = new Bytes().repeat([OP.block, VOID, ...CALL_LEAF], n).repeat([OP.end], n);
      return moduleOf([LEAF, { type: 0, code: code.bytes() }]);
    },
  },
  {
    name: "nested-ifs",
    unit: "if/else nested in one another, a call in each arm",
    build: (n) => {
      const code = new Bytes();
      for (let i = 0; i < n; i++) code.push(OP.i32Const, 0x01, OP.if, VOID, ...CALL_LEAF, OP.else, ...CALL_LEAF);
      code.repeat([OP.end], n);
      return moduleOf([LEAF, { type: 0, code: code.bytes() }]);
    },
  },
  {
    name: "br-table",
    unit: "br_table targets (over at most 64 nested blocks)",
    build: (n) => {
      // (block … (block (br_table … (local.get 0))) (call leaf) …): each block exit calls.
      const blocks = Math.min(n, 64);
      const code = new Bytes().repeat([OP.block, VOID], blocks);
      code.push(OP.localGet, 0x00, OP.brTable, ...uleb(n));
      for (let i = 0; i < n; i++) code.push(...uleb(i % blocks));
      code.push(0x00);
      code.repeat([OP.end, ...CALL_LEAF], blocks);
      code.push(OP.localGet, 0x00);
      return moduleOf([LEAF, { type: 1, code: code.bytes() }]);
    },
  },
  {
    name: "i32-locals-in-loops",
    unit: "loops, each adding into its own i32 local across a call",
    build: (n) => {
      const code = new Bytes();
      for (let i = 0; i < n; i++) {
        code.push(OP.loop, VOID, OP.localGet, ...uleb(i), OP.i32Const, 0x01, OP.i32Add, OP.localSet, ...uleb(i), ...CALL_LEAF, OP.end);
      }
      return moduleOf([LEAF, { type: 0, locals: [[n, I32]], code: code.bytes() }]);
    },
  },
  {
    name: "straight-line",
    unit: "local += 1 statements in one call-free function",
    build: (n) => {
      const code = new Bytes().repeat([OP.localGet, 0x00, OP.i32Const, 0x01, OP.i32Add, OP.localSet, 0x00], n).push(OP.localGet, 0x00);
      return moduleOf([LEAF, { type: 1, code: code.bytes() }]);
    },
  },
  {
    name: "deep-expression",
    unit: "i32.add operands nested in one another",
    build: (n) => {
      // (i32.add (i32.add (i32.add … 1 1) 1) 1): one expression tree n deep.
      const code = new Bytes().push(OP.i32Const, 0x01).repeat([OP.i32Const, 0x01, OP.i32Add], n);
      return moduleOf([LEAF, { type: 2, code: code.bytes() }]);
    },
  },
  {
    name: "functions-with-loops",
    unit: "functions with a loop and a call each",
    build: (n) => {
      const fs: FunctionDef[] = [LEAF];
      for (let i = 1; i < n; i++)
        fs.push({ type: 0, code: new Uint8Array([OP.loop, VOID, ...CALL_LEAF, OP.i32Const, 0x00, OP.brIf, 0x00, OP.end]) });
      return moduleOf(fs);
    },
  },
];

export function shape(name: string): Shape {
  const s = SHAPES.find((x) => x.name === name);
  if (!s) throw new Error(`no shape ${name}; known: ${SHAPES.map((x) => x.name).join(", ")}`);
  return s;
}

export const _encoding = { uleb, sleb, Bytes, OP };
