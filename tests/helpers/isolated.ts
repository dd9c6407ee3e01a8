// An isolated instance straight from a pool, as authenticated code (the isolated sandbox's default).
import type { Engine } from "../../runtime/index.js";
import type { GuestModule } from "../../runtime/exec/guest-module.js";
import type { IsolatedInstance } from "../../runtime/sandbox/isolated/isolated-instance.js";
import type { IsolatedInstanceOptions, IsolatedPool } from "../../runtime/sandbox/isolated/pool.js";

export async function isolatedInstance(
  pool: IsolatedPool,
  engine: Engine,
  module: GuestModule,
  options: Partial<IsolatedInstanceOptions> = {},
): Promise<IsolatedInstance> {
  return (await pool.instantiate(module.segment, engine.config, { trust: "authenticated", ...options })) as IsolatedInstance;
}

/** Resolves when the instance's guest has logged its first line. */
export function firstLog(): { onLog: (line: string) => void; seen: Promise<string> } {
  let resolve: (line: string) => void = () => {};
  const seen = new Promise<string>((r) => (resolve = r));
  return { onLog: (line) => resolve(line), seen };
}
