// Schema migration "resource_pins": the pins a home node keeps for global references (server/node/
// resource-pins.ts). Kept in a file of its own so that a branch adding another migration merges by
// renumbering one entry of MIGRATIONS (schema.ts), not by editing this one.

import type { Database } from "better-sqlite3";

/**
 * A pin: an unguessable id, the job and its owner, the directory under the owner's resource root,
 * the access, the one peer that may call it, when it was made, and the last call sequence number
 * the node claimed for it (claimed before the call runs, so a restart never runs a call twice).
 */
export function resourcePinsMigration(version: number): { version: number; description: string; up(db: Database): void } {
  return {
    version,
    description: "resource_pins: directories pinned at this node for jobs elsewhere (global references)",
    up(db) {
      db.exec(`
        CREATE TABLE resource_pins (
          id         TEXT PRIMARY KEY,
          job_id     TEXT NOT NULL,
          owner      TEXT NOT NULL,
          dir        TEXT NOT NULL,
          access     TEXT NOT NULL CHECK (access IN ('r', 'rw')),
          peer       TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          last_seq   INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
        ) STRICT;
        CREATE INDEX resource_pins_job ON resource_pins (job_id);
      `);
    },
  };
}
