// What an admin grants a client: capabilities (which host resources its code may bind) and quotas
// (how much it may use). Loose input is validated and normalised once, when the client is added.
// A pure format (no store, no auth): the store normalises rows with it, auth and the CLI validate with it.

import { FerryError, formatCapability, parseCapability } from "../../runtime/light.js";
import { ServerError } from "../errors.js";

/**
 * Per-client limits, each with its unit in the name. The HTTP layer enforces them at the API; the
 * sandbox gets maxMemoryPages and maxFuelPerJob as the instance's budgets.
 */
export interface Quotas {
  /** Largest module the client may upload. */
  maxModuleBytes: number;
  /** Memory cap of the client's guests, in 64 KiB pages. */
  maxMemoryPages: number;
  /** Total fuel one job may use. */
  maxFuelPerJob: number;
  /** Jobs the client may have that are not finished. */
  maxConcurrentJobs: number;
  /** Bytes the client's resource files may hold together on a node (its disk quota). */
  maxResourceBytes: number;
  /** Files and directories the client's resource root may hold on a node. */
  maxResourceEntries: number;
}

export const DEFAULT_QUOTAS: Readonly<Quotas> = {
  maxModuleBytes: 4 * 1024 * 1024,
  maxMemoryPages: 1024, // 64 MiB
  // Minutes of CPU: n-body burns ~10^10 fuel a second on a 2-core VM, so ~15 minutes of it.
  maxFuelPerJob: 10_000_000_000_000,
  maxConcurrentJobs: 4,
  maxResourceBytes: 64 * 1024 * 1024,
  maxResourceEntries: 1_000,
};

const QUOTA_KEYS = Object.keys(DEFAULT_QUOTAS) as (keyof Quotas)[];

/**
 * Capability strings in the runtime's grammar, `<resource>:<r|w|rw>` with an optional trailing `*` on
 * the resource ("reports/*:rw"), parsed by the runtime itself so an admin can never store one the
 * sandbox would reject. Stored in the runtime's canonical spelling, deduplicated and sorted.
 */
export function parseCapabilities(input: unknown): string[] {
  const list =
    typeof input === "string"
      ? input
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s !== "")
      : input;
  if (!Array.isArray(list)) throw new ServerError("bad_request", "capabilities must be a list of <resource>:<r|w|rw> strings");
  const out = new Set<string>();
  for (const c of list) {
    if (typeof c !== "string") throw new ServerError("bad_request", `capability ${JSON.stringify(c)} must be a string <resource>:<r|w|rw>`);
    try {
      out.add(formatCapability(parseCapability(c)));
    } catch (e) {
      if (e instanceof FerryError) throw new ServerError("bad_request", e.detail ?? e.message, { cause: e });
      throw e;
    }
  }
  return [...out].sort();
}

/** Partial quotas (object or JSON text) merged over DEFAULT_QUOTAS; unknown keys and non-positive values are rejected. */
export function parseQuotas(input: unknown): Quotas {
  let value = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch {
      throw new ServerError("bad_request", "quotas must be a JSON object");
    }
  }
  if (value === undefined || value === null) return { ...DEFAULT_QUOTAS };
  if (typeof value !== "object" || Array.isArray(value)) throw new ServerError("bad_request", "quotas must be a JSON object");
  const quotas: Quotas = { ...DEFAULT_QUOTAS };
  for (const [key, v] of Object.entries(value)) {
    if (!(QUOTA_KEYS as string[]).includes(key)) {
      throw new ServerError("bad_request", `unknown quota "${key}" (known: ${QUOTA_KEYS.join(", ")})`);
    }
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
      throw new ServerError("bad_request", `quota "${key}" must be a positive integer`);
    }
    quotas[key as keyof Quotas] = v;
  }
  return quotas;
}
