// The node's public surface: `import { startNode } from "ferry/server"` runs a Ferry node inside a
// host program, as `ferry serve` does. Its store needs better-sqlite3, an optional peer dependency of
// the package (`npm install better-sqlite3` beside Ferry); without it startNode rejects with
// ServerError `store_unavailable` and nothing else of the node is touched. The HTTP client is
// `ferry/client`, the runtime `ferry`.

export { startNode } from "./node-server.js";
export type { NodeServerOptions, RunningNode, PeerConfig } from "./node-server.js";
export { ServerError, isServerError, SERVER_ERROR_MESSAGES } from "./errors.js";
export type { ServerErrorCode, AuthFailure } from "./errors.js";
