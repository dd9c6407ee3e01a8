// Runtime helpers the metering adds to a module: memory.grow, memory.copy and memory.fill whose
// work grows with their operands. Each is one instruction to Wasm but can take milliseconds (a
// 256 MiB copy; a grow that reallocates and copies the whole memory), so they are replaced by calls
// to these functions, which charge fuel by the work and, for copy and fill, work in chunks with a
// fuel check between chunks: no single instruction can hold the host past its slice for long.

import { i64Const, type Binaryen, type BinaryenModule, type ExpressionRef } from "./binaryen.js";
import { CLOCK_IMPORT, FERRY_MODULE } from "../host/index.js";

export const FUEL_GLOBAL = "__ferry_fuel";
export const GROW_FAILED_GLOBAL = "__ferry_grow_failed";
/** The internal name of the clock import the helpers call (host/ferry/core.ts CLOCK_IMPORT). */
export const CLOCK_NAME = "__ferry_clock";

/** `init` is a prefix: one helper per data segment (memory.init names its segment statically). */
export const HELPER_NAMES = {
  copy: "__ferry_memory_copy",
  fill: "__ferry_memory_fill",
  grow: "__ferry_memory_grow",
  init: "__ferry_memory_init_",
} as const;

/** Copy and fill cost one fuel per 2^2 = 4 bytes (first-touch copies run near 1 byte/ns here). */
export const BULK_BYTES_PER_FUEL_LOG2 = 2;
/** Copy and fill work in chunks of this many bytes, checking fuel between chunks. */
export const BULK_CHUNK_BYTES = 256 * 1024;
/** Bulk operations with a constant length up to this stay inline, charged statically. */
export const INLINE_BULK_BYTES = 4096;
/**
 * A successful memory.grow costs one fuel per 2^6 = 64 bytes of the memory's *new* size: past a
 * few tens of MiB the engine reallocates and copies the whole memory on every grow (measured:
 * ~2 ms per grow at 128 MiB), so a loop of grow(1) is quadratic in work, and is charged so.
 */
export const GROW_BYTES_PER_FUEL_LOG2 = 6;

/** A chunk at least this long is followed by a look at the slice's clock (a yield), not only a fuel check. */
export const CLOCKED_CHUNK_BYTES = 64 * 1024;
/** A grow that leaves the memory at least this many pages (16 MiB) is followed by a look at the clock. */
export const CLOCKED_GROW_PAGES = 256;

/** The most fuel one helper call charges before it checks: one chunk. */
export const BULK_CHUNK_FUEL = (BULK_CHUNK_BYTES >> BULK_BYTES_PER_FUEL_LOG2) + 1;

/**
 * The expressions the helpers are built from, over one module. Binaryen IR is a tree: every use
 * needs an expression of its own, so each is a method that makes a fresh one.
 */
class HelperIr {
  constructor(
    readonly b: Binaryen,
    readonly m: BinaryenModule,
    readonly yieldName: string,
    readonly memoryName: string,
  ) {}

  get(index: number, type = this.b.i32): ExpressionRef {
    return this.m.local.get(index, type);
  }

  set(index: number, value: ExpressionRef): ExpressionRef {
    return this.m.local.set(index, value);
  }

  i32c(v: number): ExpressionRef {
    return this.m.i32.const(v);
  }

  fuel(): ExpressionRef {
    return this.m.global.get(FUEL_GLOBAL, this.b.i64);
  }

  charge(amount: ExpressionRef): ExpressionRef {
    return this.m.global.set(FUEL_GLOBAL, this.m.i64.sub(this.fuel(), amount));
  }

  clock(): ExpressionRef {
    return this.m.call(CLOCK_NAME, [], this.b.none);
  }

  /** One fuel per 2^BULK_BYTES_PER_FUEL_LOG2 bytes of a chunk of `n`, plus one. */
  chargeBytes(n: ExpressionRef): ExpressionRef {
    const { m } = this;
    return this.charge(m.i64.add(m.i64.extend_u(m.i32.shr_u(n, this.i32c(BULK_BYTES_PER_FUEL_LOG2))), i64Const(m, 1)));
  }

  /** The fuel check the caller gets inline, as a yield when the fuel ran out. */
  yieldIfOut(): ExpressionRef {
    return this.m.if(this.m.i64.lt_s(this.fuel(), i64Const(this.m, 0)), this.m.call(this.yieldName, [], this.b.none));
  }

  /**
   * After a chunk of at least CLOCKED_CHUNK_BYTES the helper first lets the host look at the
   * slice's clock (fuel per byte varies with first-touch memory; the deadline does not): a late
   * slice gets its fuel check failed. The clock call cannot unwind, so it costs Asyncify nothing;
   * such a chunk is tens of microseconds of work, the call nanoseconds. Small copies (string and
   * array operations) only check fuel, as any other instruction does.
   */
  clockIfLong(n: ExpressionRef): ExpressionRef {
    return this.m.if(this.m.i32.ge_u(n, this.i32c(CLOCKED_CHUNK_BYTES)), this.clock());
  }

  check(n: ExpressionRef): ExpressionRef {
    return this.m.block(null, [this.clockIfLong(n), this.yieldIfOut()]);
  }

  memoryBytes(): ExpressionRef {
    const { m } = this;
    return m.i64.shl(m.i64.extend_u(m.memory.size(this.memoryName)), i64Const(m, 16));
  }

  endsPast(start: ExpressionRef, len: ExpressionRef): ExpressionRef {
    const { m } = this;
    return m.i64.gt_u(m.i64.add(m.i64.extend_u(start), m.i64.extend_u(len)), this.memoryBytes());
  }

  /** min(len, chunk). */
  chunk(len: () => ExpressionRef): ExpressionRef {
    return this.m.select(this.m.i32.lt_u(len(), this.i32c(BULK_CHUNK_BYTES)), len(), this.i32c(BULK_CHUNK_BYTES));
  }
}

export function addMeterHelpers(b: Binaryen, m: BinaryenModule, yieldName: string, memoryName: string): void {
  m.addFunctionImport(CLOCK_NAME, FERRY_MODULE, CLOCK_IMPORT, b.none, b.none);
  const ir = new HelperIr(b, m, yieldName, memoryName);
  addCopyHelper(ir);
  addFillHelper(ir);
  addGrowHelper(ir);
}

// The helpers' locals: (dst, src or value, len; n). Out of bounds: the original instruction raises
// the trap the program would have raised, before anything is written, exactly as the spec orders it.
const [DST, SRC, LEN, N] = [0, 1, 2, 3];
const VALUE = 1;

function addCopyHelper(ir: HelperIr): void {
  const { b, m, memoryName } = ir;
  const get = (index: number) => ir.get(index);
  const copyAt = (d: ExpressionRef, s: ExpressionRef, n: ExpressionRef) => m.memory.copy(d, s, n, memoryName, memoryName);
  // Forward, chunk by chunk: a chunk never writes where a later chunk reads (dst ≤ src).
  const forward = m.loop(
    "forward",
    m.block(null, [
      ir.set(
        N,
        ir.chunk(() => get(LEN)),
      ),
      copyAt(get(DST), get(SRC), get(N)),
      ir.set(DST, m.i32.add(get(DST), get(N))),
      ir.set(SRC, m.i32.add(get(SRC), get(N))),
      ir.set(LEN, m.i32.sub(get(LEN), get(N))),
      ir.chargeBytes(get(N)),
      ir.check(get(N)),
      m.br("forward", get(LEN)),
    ]),
  );
  // Backward from the end when the destination is above the source (an overlapping move).
  const backward = m.loop(
    "backward",
    m.block(null, [
      ir.set(
        N,
        ir.chunk(() => get(LEN)),
      ),
      ir.set(LEN, m.i32.sub(get(LEN), get(N))),
      copyAt(m.i32.add(get(DST), get(LEN)), m.i32.add(get(SRC), get(LEN)), get(N)),
      ir.chargeBytes(get(N)),
      ir.check(get(N)),
      m.br("backward", get(LEN)),
    ]),
  );
  const outOfBounds = m.i32.or(ir.endsPast(get(DST), get(LEN)), ir.endsPast(get(SRC), get(LEN)));
  m.addFunction(
    HELPER_NAMES.copy,
    b.createType([b.i32, b.i32, b.i32]),
    b.none,
    [b.i32],
    m.block(null, [
      m.if(outOfBounds, m.block(null, [copyAt(get(DST), get(SRC), get(LEN)), m.return()])),
      m.if(m.i32.le_u(get(DST), get(SRC)), forward, backward),
    ]),
  );
}

function addFillHelper(ir: HelperIr): void {
  const { b, m, memoryName } = ir;
  const get = (index: number) => ir.get(index);
  const fillAt = (d: ExpressionRef, n: ExpressionRef) => m.memory.fill(d, get(VALUE), n, memoryName);
  m.addFunction(
    HELPER_NAMES.fill,
    b.createType([b.i32, b.i32, b.i32]),
    b.none,
    [b.i32],
    m.block(null, [
      m.if(ir.endsPast(get(DST), get(LEN)), m.block(null, [fillAt(get(DST), get(LEN)), m.return()])),
      m.loop(
        "chunks",
        m.block(null, [
          ir.set(
            N,
            ir.chunk(() => get(LEN)),
          ),
          fillAt(get(DST), get(N)),
          ir.set(DST, m.i32.add(get(DST), get(N))),
          ir.set(LEN, m.i32.sub(get(LEN), get(N))),
          ir.chargeBytes(get(N)),
          ir.check(get(N)),
          m.br("chunks", get(LEN)),
        ]),
      ),
    ]),
  );
}

/**
 * (delta; result) → the old size in pages, or -1 (which also sets the flag a later trap reads to
 * report memory_limit).
 */
function addGrowHelper(ir: HelperIr): void {
  const { b, m, memoryName } = ir;
  const [DELTA, RESULT] = [0, 1];
  m.addFunction(
    HELPER_NAMES.grow,
    b.i32,
    b.i32,
    [b.i32],
    m.block(
      null,
      [
        ir.set(RESULT, m.memory.grow(ir.get(DELTA), memoryName)),
        m.if(
          m.i32.eq(ir.get(RESULT), ir.i32c(-1)),
          m.global.set(GROW_FAILED_GLOBAL, ir.i32c(1)),
          ir.charge(m.i64.shr_u(ir.memoryBytes(), i64Const(m, GROW_BYTES_PER_FUEL_LOG2))),
        ),
        // The clock is looked at after a grow once the memory is large (the engine's grow can then take
        // milliseconds); the caller's fuel check follows the call.
        m.if(m.i32.ge_u(m.memory.size(memoryName), ir.i32c(CLOCKED_GROW_PAGES)), ir.clock()),
        ir.get(RESULT),
      ],
      b.i32,
    ),
  );
}

/** The internal name of the module's (single) memory, found through its export. */
export function memoryName(b: Binaryen, m: BinaryenModule, exportName: string): string {
  for (let i = 0; i < m.getNumExports(); i++) {
    const e = b.getExportInfo(m.getExportByIndex(i));
    if (e.kind === b.ExternalMemory && e.name === exportName) return e.value;
  }
  throw new Error(`no memory exported as ${exportName}`);
}

/**
 * memory.init of `segment` in checked chunks: (dst, src, len; n). The instruction checks the whole
 * range before writing a byte; so does the helper: a zero-length init at the range's end traps
 * exactly when the range leaves the segment or the memory (a dropped segment has length 0), and a
 * range whose end does not fit in 32 bits is left to the original instruction, which traps.
 */
export function addMemoryInitHelper(
  b: Binaryen,
  m: BinaryenModule,
  segment: string,
  name: string,
  yieldName: string,
  memoryName: string,
): void {
  const ir = new HelperIr(b, m, yieldName, memoryName);
  const get = (index: number) => ir.get(index);
  const init = (d: ExpressionRef, s: ExpressionRef, n: ExpressionRef) => m.memory.init(segment, d, s, n, memoryName);
  const wraps = (start: number) => m.i64.gt_u(m.i64.add(m.i64.extend_u(get(start)), m.i64.extend_u(get(LEN))), i64Const(m, 0xffff_ffff));
  m.addFunction(
    name,
    b.createType([b.i32, b.i32, b.i32]),
    b.none,
    [b.i32],
    m.block(null, [
      m.if(m.i32.or(wraps(DST), wraps(SRC)), m.block(null, [init(get(DST), get(SRC), get(LEN)), m.return()])),
      init(m.i32.add(get(DST), get(LEN)), m.i32.add(get(SRC), get(LEN)), ir.i32c(0)),
      m.loop(
        "chunks",
        m.block(null, [
          m.local.set(
            N,
            ir.chunk(() => get(LEN)),
          ),
          init(get(DST), get(SRC), get(N)),
          m.local.set(DST, m.i32.add(get(DST), get(N))),
          m.local.set(SRC, m.i32.add(get(SRC), get(N))),
          m.local.set(LEN, m.i32.sub(get(LEN), get(N))),
          ir.chargeBytes(get(N)),
          ir.clockIfLong(get(N)),
          ir.yieldIfOut(),
          m.br("chunks", get(LEN)),
        ]),
      ),
    ]),
  );
}
