// Loads binaryen.js once, lazily: it is a large Wasm build that only the instrumentation
// pipeline needs, so running an already-instrumented module never pays for it.

import type binaryenModule from "binaryen";

export type Binaryen = typeof binaryenModule;
export type BinaryenModule = InstanceType<Binaryen["Module"]>;
export type ExpressionRef = number;

let loading: Promise<Binaryen> | undefined;

export function loadBinaryen(): Promise<Binaryen> {
  loading ??= import("binaryen").then((m) => m.default);
  return loading;
}

/** Expression setters binaryen.js provides at run time but its typings omit. */
export interface IrSetters {
  Loop: { setBody(loop: ExpressionRef, body: ExpressionRef): void };
  LocalSet: { setValue(set: ExpressionRef, value: ExpressionRef): void };
  Function: { setBody(fn: number, body: ExpressionRef): void };
  addVar(fn: number, type: number): number;
}

export function irSetters(b: Binaryen): IrSetters {
  const raw = b as unknown as {
    Loop: IrSetters["Loop"];
    LocalSet: IrSetters["LocalSet"];
    Function: IrSetters["Function"];
    _BinaryenFunctionAddVar(fn: number, type: number): number;
  };
  return { Loop: raw.Loop, LocalSet: raw.LocalSet, Function: raw.Function, addVar: (fn, type) => raw._BinaryenFunctionAddVar(fn, type) };
}

/** An i64.const: binaryen.js 132 takes one bigint, while its typings still describe (low, high). */
export function i64Const(m: BinaryenModule, value: number | bigint): ExpressionRef {
  return (m.i64.const as unknown as (v: bigint) => ExpressionRef)(BigInt(value));
}
