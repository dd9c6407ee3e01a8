// Example guest: deep, loop-free recursion (naive Fibonacci and Ackermann). Pausing these means
// unwinding many frames into the Asyncify stack buffer: Ackermann's depth is about its result.

export { ferry_continuation } from "../sdk";

/** Naive doubly recursive Fibonacci: fib(0) = 0, fib(1) = 1. */
export function fib(n: i32): i32 {
  if (n < 2) return n;
  return fib(n - 1) + fib(n - 2);
}

/** Ackermann–Péter: ackermann(2, n) = 2n + 3, ackermann(3, n) = 2^(n+3) - 3. */
export function ackermann(m: i32, n: i32): i32 {
  if (m == 0) return n + 1;
  if (n == 0) return ackermann(m - 1, 1);
  return ackermann(m - 1, ackermann(m, n - 1));
}

export function main(n: i32): i32 {
  return fib(n);
}
