// The seen_nonces table: every nonce a client has used, until its request could no longer pass the
// timestamp check anyway. Claiming one twice is how replays are caught.

import type { Database } from "better-sqlite3";

/** Expired nonces are deleted at most this often (a delete per request would double the writes). */
const PURGE_INTERVAL_MS = 60_000;

export class NonceTable {
  private lastPurgeMs = -Infinity;

  constructor(private readonly db: Database) {}

  /**
   * Records the nonce; false if the client already used it and it has not expired (a replay). An expired
   * row does not block: by then the timestamp check rejects the old request on its own.
   */
  claim(clientId: string, nonce: string, expiresAtMs: number, nowMs: number): boolean {
    if (nowMs - this.lastPurgeMs >= PURGE_INTERVAL_MS) this.purgeExpired(nowMs);
    const changes = this.db
      .prepare(
        `INSERT INTO seen_nonces (client_id, nonce, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (client_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE seen_nonces.expires_at <= ?`,
      )
      .run(clientId, nonce, expiresAtMs, nowMs).changes;
    return changes === 1;
  }

  /** Deletes every nonce that expired at or before `nowMs`; returns how many. */
  purgeExpired(nowMs: number): number {
    this.lastPurgeMs = nowMs;
    return this.db.prepare("DELETE FROM seen_nonces WHERE expires_at <= ?").run(nowMs).changes;
  }

  count(): number {
    return Number(this.db.prepare("SELECT count(*) FROM seen_nonces").pluck().get());
  }
}
