// An isolated instance straight from a pool, as authenticated code (the isolated sandbox's default).
import { type Engine, type IsolatedPlacement, normalizePlacement, type PlacementOptions } from "../../runtime/index.js";
import type { GuestModule } from "../../runtime/exec/guest-module.js";
import type { IsolatedInstance } from "../../runtime/sandbox/isolated/isolated-instance.js";
import type { IsolatedPool } from "../../runtime/sandbox/isolated/pool.js";

/** What a pool takes: the options normalised by the engine's rules, for the isolated sandbox. */
export type IsolatedInstanceOptions = Omit<PlacementOptions, "sandbox">;

export function isolatedPlacement(options: IsolatedInstanceOptions): IsolatedPlacement {
  return normalizePlacement({ ...options, sandbox: "isolated" });
}

export async function isolatedInstance(
  pool: IsolatedPool,
  engine: Engine,
  module: GuestModule,
  options: Partial<IsolatedInstanceOptions> = {},
): Promise<IsolatedInstance> {
  return (await pool.instantiate(module, engine.config, isolatedPlacement({ trust: "authenticated", ...options }))) as IsolatedInstance;
}

/** `isolatedInstance` bound to one engine and a default pool (another pool may be named per call). */
export function isolatedOn(
  engine: Engine,
  pool: IsolatedPool,
): (module: GuestModule, options?: Partial<IsolatedInstanceOptions>, on?: IsolatedPool) => Promise<IsolatedInstance> {
  return (module, options = {}, on = pool) => isolatedInstance(on, engine, module, options);
}

/** Resolves when the instance's guest has logged its first line. */
export function firstLog(): { onLog: (line: string) => void; seen: Promise<string> } {
  let resolve: (line: string) => void = () => {};
  const seen = new Promise<string>((r) => (resolve = r));
  return { onLog: (line) => resolve(line), seen };
}
