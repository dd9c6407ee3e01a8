// GET /migrations: this node's recent moves out (server/node/migration-log.ts), newest first. A
// job's id is shown to its owner only: to anyone else a move is where, how and how long, never whose.

import type { Hono } from "hono";
import { ServerError } from "../../errors.js";
import type { FerryNode } from "../../node/ferry-node.js";
import { MIGRATION_LOG_SIZE } from "../../node/migration-log.js";
import { callerOf, type Env } from "../env.js";

export function migrationRoutes(app: Hono<Env>, node: FerryNode): void {
  app.get("/migrations", (c) => {
    const params = new URL(c.req.url).searchParams;
    for (const key of params.keys())
      if (key !== "limit") throw new ServerError("bad_request", `unknown query parameter "${key}" (known: limit)`);
    const raw = params.get("limit");
    if (raw !== null && (!/^\d{1,3}$/.test(raw) || Number(raw) < 1 || Number(raw) > MIGRATION_LOG_SIZE))
      throw new ServerError("bad_request", `limit must be an integer from 1 to ${MIGRATION_LOG_SIZE}`);
    return c.json({ node: node.id, migrations: node.migrations.visibleTo(callerOf(c), raw === null ? MIGRATION_LOG_SIZE : Number(raw)) });
  });
}
