// Example guest: naive n×n f64 matrix product C = A×B, returning the sum of C's entries.
// A[i][j] = ((i*j) % 7) + 0.5 and B[i][j] = (((i+j) % 5) - 1.25) * 0.1. The 0.1 makes B inexact
// in binary, so the result depends on the exact order of additions (k ascending per entry, then
// row-major over C) — guest/reference.ts uses the same order.

export { ferry_continuation } from "../sdk";

export function main(n: i32): f64 {
  const size = n * n;
  const a = new Float64Array(size);
  const b = new Float64Array(size);
  const c = new Float64Array(size);
  // Raw addresses for the kernel: AssemblyScript does not inline typed-array accessors that
  // touch the GC shadow stack, and a call per element would triple the run time. Nothing below
  // allocates, so the GC cannot run (the arrays stay rooted by the locals anyway).
  const pa = a.dataStart;
  const pb = b.dataStart;
  const pc = c.dataStart;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const at = <usize>(i * n + j) << 3;
      store<f64>(pa + at, <f64>((i * j) % 7) + 0.5);
      store<f64>(pb + at, (<f64>((i + j) % 5) - 1.25) * 0.1);
    }
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0.0;
      for (let k = 0; k < n; k++) {
        sum += load<f64>(pa + (<usize>(i * n + k) << 3)) * load<f64>(pb + (<usize>(k * n + j) << 3));
      }
      store<f64>(pc + (<usize>(i * n + j) << 3), sum);
    }
  }
  let total = 0.0;
  for (let i = 0; i < size; i++) total += load<f64>(pc + (<usize>i << 3));
  return total;
}
