// better-sqlite3, loaded the first time a node or `ferry admin` opens a database, and never before.
//
// It is the one native dependency, and only the node's store needs it, so the package lists it as
// an optional peer dependency: `npm install ferry` for embedding (`import { Engine } from "ferry"`)
// does not compile it (minutes on a small machine), and whoever runs a node installs it beside
// Ferry. Missing or unloadable, it is a typed `store_unavailable` saying what to install, not a
// module-resolution stack trace. Loaded through require: better-sqlite3 is CommonJS and every store
// call is synchronous.

import { createRequire } from "node:module";
import type DatabaseConstructor from "better-sqlite3";
import { ServerError } from "../errors.js";

export type SqliteDriver = typeof DatabaseConstructor;

/** The range package.json's peerDependencies asks for; said in the message so a user installs a fitting one. */
const WANTED = "better-sqlite3@11";

let driver: SqliteDriver | undefined;

/** The better-sqlite3 constructor, its native part checked to load; throws store_unavailable otherwise. */
export function sqliteDriver(): SqliteDriver {
  if (driver) return driver;
  let loaded: SqliteDriver;
  try {
    loaded = createRequire(import.meta.url)("better-sqlite3") as SqliteDriver;
  } catch (e) {
    if ((e as { code?: unknown }).code === "MODULE_NOT_FOUND" && (e as Error).message.startsWith("Cannot find module 'better-sqlite3'")) {
      throw new ServerError(
        "store_unavailable",
        `it is not installed; run \`npm install ${WANTED}\` in the project that installed Ferry (embedding the runtime does not need it)`,
        { cause: e },
      );
    }
    throw unloadable(e);
  }
  // The JS loads without the compiled addon; the addon is loaded by the first open. Open one in
  // memory now, so a missing or mismatched build is this error, not a "corrupt store" later.
  try {
    new loaded(":memory:").close();
  } catch (e) {
    throw unloadable(e);
  }
  return (driver = loaded);
}

function unloadable(e: unknown): ServerError {
  const why = (e instanceof Error ? e.message : String(e)).split("\n")[0];
  return new ServerError(
    "store_unavailable",
    `it is installed but does not load (${why}); run \`npm rebuild better-sqlite3\` to build it for this Node version`,
    { cause: e },
  );
}
