// The node's modules: uploads (validated and instrumented before anything is stored, within the
// client's quota), the list a caller may use, and downloads — public modules to anyone, private
// ones to their owners, and never a hint of what others hold.

import { moduleInterface, type ModuleInterface } from "../../runtime/index.js";
import { ServerError } from "../errors.js";
import type { ModuleRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import type { NodeCounters } from "./counters.js";
import type { NodeEngines } from "./engines.js";
import type { ModuleSummary } from "./job-view.js";
import type { Caller } from "./placement.js";
import { quotasOf } from "./quotas.js";

/**
 * Validate and instrument (so bad code is refused before anything is stored), then store.
 * `created` says whether the module is new *to this client* — never whether the bytes were
 * already here as someone else's private module: that answer depends only on the caller's own
 * uploads, so an upload cannot be used to learn what others hold.
 */
export async function uploadModule(
  engines: NodeEngines,
  counters: NodeCounters,
  client: NonNullable<Caller>,
  bytes: Uint8Array,
  isPublic: boolean,
): Promise<{ codeHash: string; created: boolean }> {
  const store = engines.store;
  const quotas = quotasOf(client);
  if (bytes.byteLength > quotas.maxModuleBytes) {
    throw new ServerError("payload_too_large", `module is ${bytes.byteLength} bytes, the client's quota is ${quotas.maxModuleBytes}`);
  }
  const module = await engines.engine(quotas.maxMemoryPages).compile(bytes);
  const created = !store.modules.ownedBy(module.codeHash, client.id);
  store.modules.put(bytes, { owner: client.id, public: isPublic });
  // Counted the same way (per new owner), so /metrics does not tell either.
  if (created) counters.modulesUploaded++;
  return { codeHash: module.codeHash, created };
}

/**
 * The modules the caller may use — public ones, and its own private ones — newest first, a page at
 * a time (`before`: the last hash of the previous page). Owners are not shown: only `mine`.
 */
export function listModules(
  store: Store,
  caller: Caller,
  query: { limit: number; before?: string },
): { modules: ModuleSummary[]; next: string | null } {
  const who = caller?.id ?? null;
  let before: ModuleRecord | undefined;
  if (query.before !== undefined) {
    before = store.modules.get(query.before);
    if (!before || !store.modules.visibleTo(query.before, who)) throw new ServerError("not_found", `no module ${query.before}`);
  }
  const rows = store.modules.visibleList(who, { limit: query.limit, ...(before ? { before } : {}) });
  const modules = rows.map((m) => ({ codeHash: m.codeHash, public: m.public, size: m.size, createdAt: m.createdAt, mine: m.mine }));
  return { modules, next: rows.length === query.limit ? rows[rows.length - 1]!.codeHash : null };
}

/** Module bytes for a download: public modules to anyone, private ones to their owner. */
export function moduleBytes(store: Store, codeHash: string, caller: Caller): Uint8Array {
  const record = store.modules.get(codeHash);
  if (!record || !store.modules.visibleTo(codeHash, caller?.id ?? null, record))
    throw new ServerError("not_found", `no module ${codeHash}`);
  return store.modules.read(codeHash);
}

/**
 * A module's imports and exports (GET /modules/:hash/interface), to whoever may download it: read
 * from its stored bytes by the runtime's binary reader, so it costs a read and a parse, no compile.
 */
export function moduleInterfaceOf(store: Store, codeHash: string, caller: Caller): ModuleInterface & { codeHash: string } {
  return { codeHash, ...moduleInterface(moduleBytes(store, codeHash, caller)) };
}
