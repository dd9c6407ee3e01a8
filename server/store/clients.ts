// The clients table: who may sign requests (by Ed25519 public key only), with the capabilities and
// quotas an admin granted them.

import type { KeyObject } from "node:crypto";
import type { Database } from "better-sqlite3";
import { DEFAULT_QUOTAS, parseCapabilities, parseQuotas, type Quotas } from "../formats/grants.js";
import { keyFingerprint, publicKeyPem } from "../formats/keys.js";
import { ServerError } from "../errors.js";
import type { ClientRecord } from "./records.js";
import { bool, checkId, mapConstraint, parseJsonColumn } from "./sql.js";

export interface NewClient {
  /** Default: the key's fingerprint (what `ferry keygen` writes into the key file). */
  id?: string;
  /** Ed25519 public key (see parsePublicKey in server/auth/keys.ts). */
  publicKey: KeyObject;
  capabilities?: readonly string[];
  /** Missing quotas take DEFAULT_QUOTAS. */
  quotas?: Partial<Quotas>;
}

interface ClientRow {
  id: string;
  public_key: string;
  capabilities: string;
  quotas: string;
  created_at: number;
  disabled: number;
}

export class ClientTable {
  constructor(
    private readonly db: Database,
    private readonly clock: () => number,
  ) {}

  add(input: NewClient): ClientRecord {
    if (input.publicKey.type !== "public" || input.publicKey.asymmetricKeyType !== "ed25519") {
      throw new ServerError("bad_request", "a client's key must be an Ed25519 public key");
    }
    const id = input.id ?? keyFingerprint(input.publicKey);
    checkId("client", id);
    const record: ClientRecord = {
      id,
      publicKey: publicKeyPem(input.publicKey),
      capabilities: parseCapabilities(input.capabilities ?? []),
      quotas: parseQuotas(input.quotas ?? {}),
      createdAt: this.clock(),
      disabled: false,
    };
    mapConstraint(`client ${id} (or its public key)`, () =>
      this.db
        .prepare("INSERT INTO clients (id, public_key, capabilities, quotas, created_at, disabled) VALUES (?, ?, ?, ?, ?, 0)")
        .run(id, record.publicKey, JSON.stringify(record.capabilities), JSON.stringify(record.quotas), record.createdAt),
    );
    return record;
  }

  get(id: string): ClientRecord | undefined {
    const row = this.db.prepare<[string], ClientRow>("SELECT * FROM clients WHERE id = ?").get(id);
    return row && toRecord(row);
  }

  require(id: string): ClientRecord {
    const client = this.get(id);
    if (!client) throw new ServerError("not_found", `no client ${id}`);
    return client;
  }

  list(): ClientRecord[] {
    return this.db.prepare<[], ClientRow>("SELECT * FROM clients ORDER BY created_at, id").all().map(toRecord);
  }

  /** Replaces the capabilities and/or quotas (quotas given are merged over DEFAULT_QUOTAS, not the old ones). */
  updateGrants(id: string, grants: { capabilities?: readonly string[]; quotas?: Partial<Quotas> }): ClientRecord {
    const current = this.require(id);
    const capabilities = grants.capabilities ? parseCapabilities(grants.capabilities) : current.capabilities;
    const quotas = grants.quotas ? parseQuotas(grants.quotas) : current.quotas;
    this.db
      .prepare("UPDATE clients SET capabilities = ?, quotas = ? WHERE id = ?")
      .run(JSON.stringify(capabilities), JSON.stringify(quotas), id);
    return { ...current, capabilities, quotas };
  }

  /** A disabled client's requests are rejected; its modules and jobs stay. */
  setDisabled(id: string, disabled: boolean): ClientRecord {
    const changed = this.db.prepare("UPDATE clients SET disabled = ? WHERE id = ?").run(disabled ? 1 : 0, id).changes;
    if (changed === 0) throw new ServerError("not_found", `no client ${id}`);
    return this.require(id);
  }
}

function toRecord(row: ClientRow): ClientRecord {
  return {
    id: row.id,
    publicKey: row.public_key,
    capabilities: parseJsonColumn<string[]>("clients", "capabilities", row.capabilities),
    // Quotas added after the client was stored take their defaults.
    quotas: { ...DEFAULT_QUOTAS, ...parseJsonColumn<Partial<Quotas>>("clients", "quotas", row.quotas) },
    createdAt: row.created_at,
    disabled: bool(row.disabled),
  };
}
