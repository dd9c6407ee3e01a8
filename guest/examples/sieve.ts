// Example guest: counts the primes <= n with the sieve of Eratosthenes over a byte array.
// Transparent-mode workload: tight integer loops and one large heap allocation.

export { ferry_continuation } from "../sdk";

/** Number of primes <= n, e.g. main(1_000_000) = 78498. */
export function main(n: i32): i32 {
  if (n < 2) return 0;
  const composite = new Uint8Array(n + 1);
  let count = 0;
  for (let i = 2; i <= n; i++) {
    if (unchecked(composite[i])) continue;
    count++;
    // i <= n / i instead of i * i <= n: no overflow for n near i32.MAX_VALUE.
    if (i <= n / i) {
      for (let j = i * i; j <= n; j += i) unchecked((composite[j] = 1));
    }
  }
  return count;
}
