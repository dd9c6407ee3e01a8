// The module routes (docs/http-api.md, "Modules"): upload, list, download and describe (imports, exports) over FerryNode.

import type { Hono } from "hono";
import { ServerError } from "../../errors.js";
import type { FerryNode } from "../../node/ferry-node.js";
import { callerOf, clientOf, type Env } from "../env.js";
import { parseModuleListQuery } from "../list-query.js";
import { moduleInterfaceOf } from "../../node/modules.js";

export function moduleRoutes(app: Hono<Env>, node: FerryNode): void {
  app.post("/modules", async (c) => {
    const visibility = c.req.query("public");
    if (visibility !== undefined && visibility !== "true" && visibility !== "false")
      throw new ServerError("bad_request", "public must be true or false");
    const result = await node.uploadModule(clientOf(c), c.get("body"), visibility === "true");
    return c.json(result, result.created ? 201 : 200);
  });

  app.get("/modules", (c) => c.json(node.listModules(callerOf(c), parseModuleListQuery(new URL(c.req.url).searchParams))));

  app.get("/modules/:hash", (c) => {
    const bytes = node.moduleBytes(c.req.param("hash"), callerOf(c));
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/wasm" });
  });

  // What it imports and exports: to whoever may download it (the same 404 for anyone else).
  app.get("/modules/:hash/interface", (c) => c.json(moduleInterfaceOf(node.store, c.req.param("hash"), callerOf(c))));
}
