// The dashboard's static assets: the client modules tsc compiled from web/client/ into
// dist/web/client/, and the style sheet (style.ts). Read once, kept in memory with a strong ETag
// (sha256 of the bytes), so a browser revalidates with one cheap 304 instead of downloading again.

import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { STYLE_CSS } from "./style.js";

/** The tab's icon (a browser asks for one; without it every page load logs a 404). */
const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M1 10h14l-2 4H3z" fill="#0b62c4"/><path d="M7 2v7h5z" fill="#d4570d"/></svg>`;

export interface Asset {
  bytes: Uint8Array;
  contentType: string;
  etag: string;
}

/** Where the compiled client modules are: beside this file once built, or the build's output when this runs from source (vitest). */
export function clientDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = join(here, "client");
  if (existsSync(join(built, "main.js"))) return built;
  return join(here, "..", "dist", "web", "client");
}

function asset(bytes: Uint8Array, contentType: string): Asset {
  return { bytes, contentType, etag: `"${createHash("sha256").update(bytes).digest("base64url").slice(0, 22)}"` };
}

/** Every asset by its name under /ui/assets/ ("main.js", "pages/job.js", "style.css"). Missing client code is an empty set, not a crash: the shell says so. */
export function loadAssets(dir = clientDir()): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  assets.set("style.css", asset(new TextEncoder().encode(STYLE_CSS), "text/css; charset=utf-8"));
  assets.set("icon.svg", asset(new TextEncoder().encode(ICON_SVG), "image/svg+xml"));
  if (!existsSync(dir)) return assets;
  for (const file of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    if (!file.endsWith(".js")) continue;
    const name = relative(dir, join(dir, file)).split(sep).join("/");
    assets.set(name, asset(readFileSync(join(dir, file)), "text/javascript; charset=utf-8"));
  }
  return assets;
}
