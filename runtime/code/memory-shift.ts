// The hidden prefix of a guest without its own continuation struct (docs/continuation-abi.md,
// "Guests without the struct"). Asyncify needs the struct and its stack buffer inside linear
// memory; a guest that does not export `ferry_continuation` gets `reservedPages` pages of its own at
// the *start* of memory, and every guest address moves up by SHIFT = reservedPages × 64 KiB:
//
// - loads and stores (SIMD ones too): the offset immediate grows by SHIFT, which costs nothing at run
//   time and keeps the bounds check exact (guest address + offset ≥ guest size ⇔ shifted ≥ real
//   size). An offset that would pass 2^32 − 1 becomes 2^32 − 1: such an access traps out of bounds
//   either way, after evaluating its operands, as it did;
// - memory.size answers the real size − reservedPages; memory.grow the real old size − reservedPages
//   (−1 stays −1);
// - memory.copy/fill/init: each memory address gets SHIFT added, and one whose sum would wrap past
//   2^32 − 1 becomes 2^32 − 1, which traps exactly where the guest address would have (the real
//   memory never reaches 2^32 bytes: see MAX_PREFIXED_MEMORY_PAGES);
// - active data segments: offset + SHIFT (in the emitted binary), so one that did not fit still
//   fails instantiation;
// - the memory's limits: initial and maximum + reservedPages (in the emitted binary).
//
// The pass runs after metering (which has turned grows and long bulk operations into calls to its
// helpers, whose memory operations are rewritten here like the guest's: they then see guest
// addresses and sizes, and charge exactly the fuel they charged without a prefix) and before
// Asyncify, whose own loads and stores go to the struct at real address 0 and must stay unshifted.
// The host reads guest memory from SHIFT on (GuestInstance), so host calls, snapshots and every
// embedder-visible byte are at guest addresses.

import { FerryError } from "../errors.js";
import { CONTINUATION_HEADER_BYTES, WASM_PAGE_BYTES } from "../limits.js";
import { irSetters, type Binaryen, type BinaryenModule, type ExpressionRef } from "./binaryen.js";
import type { IrWalker } from "./ir-walk.js";
import { concatBytes, sleb32, ulebBytes as leb } from "./wasm-encode.js";
import { Reader } from "./wasm-reader.js";

/**
 * The real memory of a prefixed guest stays below 2^32 bytes, so a clamped address (2^32 − 1) is
 * always out of bounds: its guest part may grow to this minus the prefix.
 */
export const MAX_PREFIXED_MEMORY_PAGES = 65_535;

/** Pages the struct (header and a stack buffer of `stackBytes`) takes at the start of memory. */
export function reservedPagesFor(stackBytes: number): number {
  return Math.ceil((CONTINUATION_HEADER_BYTES + stackBytes) / WASM_PAGE_BYTES);
}

/** The most pages a guest's own memory may reach: the cap, less what the prefix takes of 2^32 bytes. */
export function guestPageCap(maxMemoryPages: number, reservedPages: number): number {
  return reservedPages === 0 ? maxMemoryPages : Math.min(maxMemoryPages, MAX_PREFIXED_MEMORY_PAGES - reservedPages);
}

const U32_MAX = 0xffff_ffff;

/** Rewrite every memory access of every defined function of `m` for a prefix of `reservedPages`. */
export function shiftMemoryAccesses(b: Binaryen, m: BinaryenModule, walker: IrWalker, reservedPages: number): void {
  const shifter = new AccessShifter(b, m, walker, reservedPages);
  for (let f = 0; f < m.getNumFunctions(); f++) {
    const fn = m.getFunctionByIndex(f);
    if (b.getFunctionInfo(fn).base) continue; // an import: no body
    shifter.shiftFunction(fn);
  }
}

type ShiftApi = Record<
  string,
  {
    setOffset(e: ExpressionRef, v: number): void;
    setDest(e: ExpressionRef, v: ExpressionRef): void;
    setSource(e: ExpressionRef, v: ExpressionRef): void;
  }
>;

class AccessShifter {
  private readonly shift: number;
  private readonly set: ReturnType<typeof irSetters>;
  private readonly api: ShiftApi;
  private readonly offsetSetters: Map<number, string>;
  /** The function being rewritten and its i32 scratch local, added when first needed. */
  private fn = 0;
  private scratch: number | undefined;

  constructor(
    private readonly b: Binaryen,
    private readonly m: BinaryenModule,
    private readonly walker: IrWalker,
    private readonly reservedPages: number,
  ) {
    this.shift = reservedPages * WASM_PAGE_BYTES;
    this.set = irSetters(b);
    this.api = b as unknown as ShiftApi;
    this.offsetSetters = new Map<number, string>([
      [b.LoadId, "Load"],
      [b.StoreId, "Store"],
      [b.SIMDLoadId, "SIMDLoad"],
      [b.SIMDLoadStoreLaneId, "SIMDLoadStoreLane"],
    ]);
  }

  shiftFunction(fn: number): void {
    this.fn = fn;
    this.scratch = undefined;
    const info = this.b.getFunctionInfo(fn);
    const body = this.visit(info.body);
    if (body !== info.body) this.set.Function.setBody(fn, body);
  }

  /**
   * One i32 scratch local per function: each use is written and read within one operand (nothing
   * runs between the tee and its gets), so nested uses never overlap.
   */
  private temp(): number {
    this.scratch ??= this.set.addVar(this.fn, this.b.i32);
    return this.scratch;
  }

  /** addr + SHIFT, or 2^32 − 1 when that would wrap. The operand is evaluated once, first. */
  private shifted(addr: ExpressionRef): ExpressionRef {
    const { b, m } = this;
    if (b.getExpressionType(addr) === b.unreachable) return addr;
    const t = this.temp();
    return m.select(
      m.i32.le_u(m.local.get(t, b.i32), m.i32.const(U32_MAX - this.shift)),
      m.i32.add(m.local.tee(t, addr, b.i32), m.i32.const(this.shift)),
      m.i32.const(-1),
    );
  }

  private visit(expr: ExpressionRef): ExpressionRef {
    const { b, m, api } = this;
    this.walker.mapChildren(expr, (child) => this.visit(child));
    const id = b.getExpressionId(expr);
    const setter = this.offsetSetters.get(id);
    if (setter) {
      const offset = (b.getExpressionInfo(expr) as unknown as { offset: number }).offset >>> 0;
      api[setter]!.setOffset(expr, Math.min(offset + this.shift, U32_MAX));
      return expr;
    }
    if (id === b.MemorySizeId) return m.i32.sub(expr, m.i32.const(this.reservedPages));
    if (id === b.MemoryGrowId) return this.shiftedGrow(expr);
    if (id === b.MemoryCopyId || id === b.MemoryFillId || id === b.MemoryInitId) {
      const cls = id === b.MemoryCopyId ? "MemoryCopy" : id === b.MemoryFillId ? "MemoryFill" : "MemoryInit";
      const op = b.getExpressionInfo(expr) as unknown as { dest: ExpressionRef; source?: ExpressionRef };
      api[cls]!.setDest(expr, this.shifted(op.dest));
      if (id === b.MemoryCopyId) api[cls]!.setSource(expr, this.shifted(op.source!));
    }
    return expr;
  }

  /** memory.grow answers in guest pages: the old size less the prefix, or -1. */
  private shiftedGrow(expr: ExpressionRef): ExpressionRef {
    const { b, m } = this;
    if (b.getExpressionType(expr) === b.unreachable) return expr;
    const t = this.temp();
    const guestPages = m.i32.sub(m.local.get(t, b.i32), m.i32.const(this.reservedPages));
    return m.block(
      null,
      [m.local.set(t, expr), m.select(m.i32.eq(m.local.get(t, b.i32), m.i32.const(-1)), m.i32.const(-1), guestPages)],
      b.i32,
    );
  }
}

const MEMORY_SECTION = 5;
const DATA_SECTION = 11;
const I32_CONST = 0x41;
const END = 0x0b;

/**
 * The emitted binary's part of the prefix: the memory's initial and maximum sizes grow by
 * `reservedPages` (the maximum staying within MAX_PREFIXED_MEMORY_PAGES), and every active data
 * segment's offset by SHIFT — one that would wrap becomes 2^32 − 1, which fails instantiation as the
 * original offset did. Runs on the output of capMemoryMaximum (the memory has a maximum).
 */
export function reserveMemoryPrefix(bytes: Uint8Array, reservedPages: number): Uint8Array {
  const shift = reservedPages * WASM_PAGE_BYTES;
  const fail = (detail: string): never => {
    throw new FerryError("instrumentation_failed", `reserving the continuation pages: ${detail}`);
  };
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  const r = new Reader(bytes);
  r.pos = 8;
  while (r.pos < bytes.length) {
    const sectionStart = r.pos;
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    const s = new Reader(bytes, end);
    s.pos = r.pos;
    r.pos = end;
    if (id !== MEMORY_SECTION && id !== DATA_SECTION) {
      parts.push(bytes.subarray(sectionStart, end));
      continue;
    }
    const body: Uint8Array[] = [];
    if (id === MEMORY_SECTION) {
      if (s.u32() !== 1) fail("expected one memory");
      const flags = s.byte();
      if (flags !== 1) fail(`memory limits flags ${flags}, expected a maximum`);
      const min = s.u32();
      const max = s.u32();
      if (min + reservedPages > MAX_PREFIXED_MEMORY_PAGES) {
        throw new FerryError(
          "memory_limit",
          `initial memory is ${min} pages; with the ${reservedPages} pages of the continuation struct it passes ${MAX_PREFIXED_MEMORY_PAGES}`,
        );
      }
      body.push(leb(1), Uint8Array.of(1), leb(min + reservedPages), leb(Math.min(max + reservedPages, MAX_PREFIXED_MEMORY_PAGES)));
    } else {
      const count = s.u32();
      body.push(leb(count));
      for (let i = 0; i < count; i++) {
        const headStart = s.pos;
        const flags = s.u32();
        if (flags === 2) s.u32(); // the memory index
        if (flags === 0 || flags === 2) {
          body.push(bytes.subarray(headStart, s.pos));
          if (s.byte() !== I32_CONST) fail(`data segment ${i}'s offset is not an i32.const`);
          const offset = s.s32() >>> 0;
          if (s.byte() !== END) fail(`data segment ${i}'s offset is not an i32.const`);
          body.push(Uint8Array.of(I32_CONST), sleb(Math.min(offset + shift, U32_MAX) | 0), Uint8Array.of(END));
        } else if (flags === 1) body.push(bytes.subarray(headStart, s.pos));
        else fail(`data segment ${i} has flags ${flags}`);
        const dataStart = s.pos;
        s.skip(s.u32());
        body.push(bytes.subarray(dataStart, s.pos));
      }
      if (s.pos !== end) fail("the data section has trailing bytes");
    }
    const length = body.reduce((n, p) => n + p.byteLength, 0);
    parts.push(Uint8Array.of(id), leb(length), ...body);
  }
  return concatBytes(parts);
}

const sleb = (value: number): Uint8Array => Uint8Array.from(sleb32(value));
