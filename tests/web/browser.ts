// The browser the dashboard's tests drive: Debian's Chromium (apt-get install chromium; `npm test`
// installs it, scripts/system-tools.mjs), headless, through playwright-core — which drives an
// installed browser and never downloads one. Without it the tests fail naming what to install,
// unless FERRY_SKIP_BROWSER_TESTS=1 says to skip them (and then they say loudly that they did).

import { existsSync } from "node:fs";
import { chromium, type Browser, type ConsoleMessage, type Page } from "playwright-core";

export const CHROMIUM = process.env.FERRY_CHROMIUM ?? "/usr/bin/chromium";
export const SKIP_BROWSER = !existsSync(CHROMIUM) && process.env.FERRY_SKIP_BROWSER_TESTS === "1";

if (SKIP_BROWSER) console.error(`\n*** BROWSER TESTS SKIPPED: no Chromium at ${CHROMIUM} (FERRY_SKIP_BROWSER_TESTS=1) ***\n`);

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; npm test does it), set FERRY_CHROMIUM, or set FERRY_SKIP_BROWSER_TESTS=1 to skip the browser tests`,
    );
  // --no-sandbox: CI runs as root, where Chromium's own sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
}

/**
 * Console errors and uncaught exceptions of a page, for the "no console errors" checks. Chromium logs
 * every failed load as "Failed to load resource" without its address: those are recorded instead as
 * `<status> <method> <path>` from the responses themselves, so a check can tell an expected 404 apart.
 */
export function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m: ConsoleMessage) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text());
  });
  page.on("response", (r) => {
    if (r.status() >= 400) errors.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return errors;
}

/** Load a `ferry keygen` file into the page's key box and wait until the page says whose it is. */
export async function signIn(page: Page, keyFile: string, clientId: string): Promise<void> {
  await page.setInputFiles("#keyfile", keyFile);
  await page.locator("#whoami", { hasText: `signed in as ${clientId}` }).waitFor();
}
