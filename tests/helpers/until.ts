// The one polling helper of the tests and benchmarks: wait for a condition the code under test
// reaches on its own (a child exits, a job arrives, a worker starts), checking it again and again
// instead of sleeping a fixed time. The deadline only turns a hang into a failure naming what never
// happened; it is generous because a busy machine is slow, and nothing asserts on how long it took.

export interface UntilOptions {
  /** Fail after this long, ms (default 45 s). */
  timeoutMs?: number;
  /** Check again after this long, ms; 0 checks on every turn of the event loop (default 5). */
  everyMs?: number;
}

/** Resolves once `check` holds; rejects naming `what` if it does not by the deadline. */
export async function until(check: () => boolean | Promise<boolean>, what: string, options: UntilOptions | number = {}): Promise<void> {
  await untilValue(async () => ((await check()) ? true : undefined), what, options);
}

/** Resolves with the first value `probe` gives that is not `undefined`. */
export async function untilValue<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  options: UntilOptions | number = {},
): Promise<T> {
  const { timeoutMs = 45_000, everyMs = 5 } = typeof options === "number" ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((resolve) => (everyMs === 0 ? setImmediate(resolve) : setTimeout(resolve, everyMs)));
  }
}
