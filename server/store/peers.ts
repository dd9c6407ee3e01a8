// The peers table: the other nodes this one migrates jobs to and from, and the public keys that
// verify their transfers.

import type { KeyObject } from "node:crypto";
import type { Database } from "better-sqlite3";
import { publicKeyPem } from "../formats/keys.js";
import { ServerError } from "../errors.js";
import type { PeerRecord } from "./records.js";
import { checkId } from "./sql.js";

interface PeerRow {
  node_id: string;
  url: string;
  public_key: string;
}

export class PeerTable {
  constructor(private readonly db: Database) {}

  /** Adds the peer or replaces its URL and key (configuration is the source of truth). */
  upsert(peer: { nodeId: string; url: string; publicKey: KeyObject }): PeerRecord {
    checkId("node", peer.nodeId);
    if (peer.publicKey.type !== "public" || peer.publicKey.asymmetricKeyType !== "ed25519") {
      throw new ServerError("bad_request", `peer ${peer.nodeId}: key must be an Ed25519 public key`);
    }
    let url: URL;
    try {
      url = new URL(peer.url);
    } catch {
      throw new ServerError("bad_request", `peer ${peer.nodeId}: "${peer.url}" is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw new ServerError("bad_request", `peer ${peer.nodeId}: URL must be http(s)`);
    const record: PeerRecord = { nodeId: peer.nodeId, url: url.toString(), publicKey: publicKeyPem(peer.publicKey) };
    this.db
      .prepare(
        "INSERT INTO peers (node_id, url, public_key) VALUES (?, ?, ?) ON CONFLICT (node_id) DO UPDATE SET url = excluded.url, public_key = excluded.public_key",
      )
      .run(record.nodeId, record.url, record.publicKey);
    return record;
  }

  get(nodeId: string): PeerRecord | undefined {
    const row = this.db.prepare<[string], PeerRow>("SELECT * FROM peers WHERE node_id = ?").get(nodeId);
    return row && toRecord(row);
  }

  require(nodeId: string): PeerRecord {
    const peer = this.get(nodeId);
    if (!peer) throw new ServerError("not_found", `no peer ${nodeId}`);
    return peer;
  }

  list(): PeerRecord[] {
    return this.db.prepare<[], PeerRow>("SELECT * FROM peers ORDER BY node_id").all().map(toRecord);
  }

  remove(nodeId: string): boolean {
    return this.db.prepare("DELETE FROM peers WHERE node_id = ?").run(nodeId).changes > 0;
  }
}

function toRecord(row: PeerRow): PeerRecord {
  return { nodeId: row.node_id, url: row.url, publicKey: row.public_key };
}
