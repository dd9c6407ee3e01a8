// The metadata schema as an ordered list of migrations. Migration N takes a database at version N-1
// to N; released migrations are never edited, only appended to (a changed one would never re-run).

import type { Database } from "better-sqlite3";
import { resourcePinsMigration } from "./schema-pins.js";

export interface Migration {
  version: number;
  description: string;
  up(db: Database): void;
}

/** "FERY": lets open() refuse a SQLite file that belongs to some other program. */
export const APPLICATION_ID = 0x46455259;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "clients, modules, jobs, checkpoints, seen nonces, peers",
    up(db) {
      // STRICT tables: SQLite checks column types instead of silently coercing.
      // Owners are not foreign keys: a job or module that migrated in may belong to a client this node
      // has never registered. Blob hashes are not foreign keys either (blobs live in files).
      db.exec(`
        CREATE TABLE clients (
          id           TEXT PRIMARY KEY,
          public_key   TEXT NOT NULL UNIQUE,
          capabilities TEXT NOT NULL,
          quotas       TEXT NOT NULL,
          created_at   INTEGER NOT NULL,
          disabled     INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
        ) STRICT;

        CREATE TABLE modules (
          code_hash  TEXT PRIMARY KEY CHECK (length(code_hash) = 64),
          owner      TEXT,
          public     INTEGER NOT NULL CHECK (public IN (0, 1)),
          size       INTEGER NOT NULL,
          created_at INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX modules_owner ON modules (owner);

        CREATE TABLE jobs (
          id          TEXT PRIMARY KEY,
          code_hash   TEXT NOT NULL REFERENCES modules (code_hash),
          owner       TEXT,
          trust       TEXT NOT NULL CHECK (trust IN ('anonymous', 'authenticated')),
          sandbox     TEXT NOT NULL CHECK (sandbox IN ('in-process', 'isolated')),
          entry       TEXT NOT NULL,
          args        TEXT NOT NULL,
          input_hash  TEXT,
          fuel_limit  INTEGER,
          state       TEXT NOT NULL,
          result      TEXT,
          output_hash TEXT,
          fuel_used   INTEGER NOT NULL DEFAULT 0,
          epoch       INTEGER NOT NULL DEFAULT 0,
          node        TEXT NOT NULL,
          created_at  INTEGER NOT NULL,
          updated_at  INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX jobs_owner_state ON jobs (owner, state);
        CREATE INDEX jobs_node_state ON jobs (node, state);
        CREATE INDEX jobs_code_hash ON jobs (code_hash);

        CREATE TABLE checkpoints (
          job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
          seq           INTEGER NOT NULL,
          snapshot_hash TEXT NOT NULL,
          size          INTEGER NOT NULL,
          fuel          INTEGER NOT NULL,
          created_at    INTEGER NOT NULL,
          PRIMARY KEY (job_id, seq)
        ) STRICT;
        CREATE INDEX checkpoints_snapshot ON checkpoints (snapshot_hash);

        CREATE TABLE seen_nonces (
          client_id  TEXT NOT NULL,
          nonce      TEXT NOT NULL,
          expires_at INTEGER NOT NULL,
          PRIMARY KEY (client_id, nonce)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX seen_nonces_expiry ON seen_nonces (expires_at);

        CREATE TABLE peers (
          node_id    TEXT PRIMARY KEY,
          url        TEXT NOT NULL,
          public_key TEXT NOT NULL
        ) STRICT;
      `);
    },
  },
  {
    version: 2,
    description: "module_owners: every client that uploaded a module's bytes may use it",
    up(db) {
      // Modules are content-addressed, so two clients uploading the same bytes share one row; each
      // of them owns it. modules.owner stays the first uploader.
      db.exec(`
        CREATE TABLE module_owners (
          code_hash TEXT NOT NULL REFERENCES modules (code_hash) ON DELETE CASCADE,
          client_id TEXT NOT NULL,
          PRIMARY KEY (code_hash, client_id)
        ) STRICT, WITHOUT ROWID;
        INSERT INTO module_owners (code_hash, client_id) SELECT code_hash, owner FROM modules WHERE owner IS NOT NULL;
      `);
    },
  },
  {
    version: 3,
    description: "jobs.wasi: a WASI job's argv, environment and directories, so a restart and a migration rebuild its preopens",
    up(db) {
      db.exec("ALTER TABLE jobs ADD COLUMN wasi TEXT");
    },
  },
  // Global references' pins (schema-pins.ts).
  resourcePinsMigration(4),
  {
    version: 5,
    description: "jobs.trees_hash: directories a migrated job brought (moved or copied), laid down before it first runs here",
    up(db) {
      db.exec("ALTER TABLE jobs ADD COLUMN trees_hash TEXT");
    },
  },
  {
    version: 6,
    description: "checkpoints.base_hash: an incremental checkpoint names the full one it is a delta of, which pruning keeps",
    up(db) {
      db.exec("ALTER TABLE checkpoints ADD COLUMN base_hash TEXT");
    },
  },
  {
    version: 7,
    description: "jobs_anonymous_age: anonymous jobs by age, so retention finds the oldest without sorting them all",
    up(db) {
      db.exec("CREATE INDEX jobs_anonymous_age ON jobs (updated_at) WHERE owner IS NULL");
    },
  },
  {
    version: 8,
    description:
      "unfinished_jobs: each owner's unfinished jobs, counted by triggers, so the quota check costs the same with 100,000 jobs held",
    up(db) {
      // The finished states as of this version (records.ts FINISHED_JOB_STATES).
      const unfinished = (row: "NEW" | "OLD") =>
        `${row}.owner IS NOT NULL AND ${row}.state NOT IN ('migrated', 'done', 'trapped', 'failed', 'cancelled')`;
      const add = `INSERT INTO unfinished_jobs (owner, count) SELECT NEW.owner, 1 WHERE ${unfinished("NEW")}
            ON CONFLICT (owner) DO UPDATE SET count = count + 1;`;
      const remove = `UPDATE unfinished_jobs SET count = count - 1 WHERE owner = OLD.owner AND ${unfinished("OLD")};`;
      db.exec(`
        CREATE TABLE unfinished_jobs (owner TEXT PRIMARY KEY, count INTEGER NOT NULL) STRICT, WITHOUT ROWID;
        INSERT INTO unfinished_jobs (owner, count)
          SELECT owner, count(*) FROM jobs WHERE owner IS NOT NULL AND state NOT IN ('migrated', 'done', 'trapped', 'failed', 'cancelled')
          GROUP BY owner;
        CREATE TRIGGER jobs_unfinished_insert AFTER INSERT ON jobs BEGIN ${add} END;
        CREATE TRIGGER jobs_unfinished_delete AFTER DELETE ON jobs BEGIN ${remove} END;
        CREATE TRIGGER jobs_unfinished_update AFTER UPDATE OF state, owner ON jobs
          WHEN OLD.state IS NOT NEW.state OR OLD.owner IS NOT NEW.owner
          BEGIN ${remove} ${add} END;
      `);
    },
  },
  {
    version: 9,
    description: "checkpoints.memory_pages, touched_pages, saved_frame_bytes: a snapshot's execution segment counted when it is written",
    up(db) {
      db.exec(`
        ALTER TABLE checkpoints ADD COLUMN memory_pages INTEGER;
        ALTER TABLE checkpoints ADD COLUMN touched_pages INTEGER;
        ALTER TABLE checkpoints ADD COLUMN saved_frame_bytes INTEGER;
      `);
    },
  },
];

/** The version this code writes: databases newer than this are refused. */
export const SCHEMA_VERSION = MIGRATIONS.length;
