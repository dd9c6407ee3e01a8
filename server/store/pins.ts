// The resource_pins table: directories this node keeps for jobs that run elsewhere and reach them
// by global reference (server/node/resource-pins.ts decides what a pin may do; this keeps the rows).

import type { Database } from "better-sqlite3";
import { ServerError } from "../errors.js";
import { checkId, mapConstraint } from "./sql.js";

export type PinAccess = "r" | "rw";

export interface PinRecord {
  /** Random and unguessable (128 bits, base64url): the pin's name in /peer/resources/:pin. */
  id: string;
  jobId: string;
  /** The job's owner: the client whose resource root holds `dir`, and whose capabilities are checked at every call. */
  owner: string;
  /** The directory under the owner's resource root, a normalized relative path. */
  dir: string;
  access: PinAccess;
  /** The one peer node that may call it. */
  peer: string;
  createdAt: number;
  /** The sequence number of the last call claimed (0: none yet). */
  lastSeq: number;
}

interface PinRow {
  id: string;
  job_id: string;
  owner: string;
  dir: string;
  access: string;
  peer: string;
  created_at: number;
  last_seq: number;
}

export class PinTable {
  constructor(
    private readonly db: Database,
    private readonly clock: () => number,
  ) {}

  add(pin: Omit<PinRecord, "createdAt" | "lastSeq">): PinRecord {
    checkId("job", pin.jobId);
    checkId("client", pin.owner);
    checkId("node", pin.peer);
    const record: PinRecord = { ...pin, createdAt: this.clock(), lastSeq: 0 };
    mapConstraint(`pin ${pin.id}`, () =>
      this.db
        .prepare("INSERT INTO resource_pins (id, job_id, owner, dir, access, peer, created_at, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?, 0)")
        .run(record.id, record.jobId, record.owner, record.dir, record.access, record.peer, record.createdAt),
    );
    return record;
  }

  get(id: string): PinRecord | undefined {
    const row = this.db.prepare<[string], PinRow>("SELECT * FROM resource_pins WHERE id = ?").get(id);
    return row && toRecord(row);
  }

  /** Every pin, or those of one job, oldest first. */
  list(filter: { jobId?: string } = {}): PinRecord[] {
    const rows =
      filter.jobId === undefined
        ? this.db.prepare<[], PinRow>("SELECT * FROM resource_pins ORDER BY created_at, id").all()
        : this.db.prepare<[string], PinRow>("SELECT * FROM resource_pins WHERE job_id = ? ORDER BY created_at, id").all(filter.jobId);
    return rows.map(toRecord);
  }

  /** Claim `seq` as the pin's last call: only the one after the stored last (false otherwise, or when the pin is gone). */
  claimSeq(id: string, seq: number): boolean {
    return this.db.prepare("UPDATE resource_pins SET last_seq = ? WHERE id = ? AND last_seq = ?").run(seq, id, seq - 1).changes === 1;
  }

  remove(id: string): boolean {
    return this.db.prepare("DELETE FROM resource_pins WHERE id = ?").run(id).changes > 0;
  }
}

function toRecord(row: PinRow): PinRecord {
  if (row.access !== "r" && row.access !== "rw")
    throw new ServerError("store_corrupt", `resource_pins.access of ${row.id} is "${row.access}"`);
  return {
    id: row.id,
    jobId: row.job_id,
    owner: row.owner,
    dir: row.dir,
    access: row.access,
    peer: row.peer,
    createdAt: row.created_at,
    lastSeq: row.last_seq,
  };
}
