// The README's examples, as the tests run them: the js block under "Embedding the runtime" and the
// ts block under "HTTP client".
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { findRepoRoot } from "../../guest/catalog.js";

/** The code of the first ```lang block under the heading `## heading` (throws when there is none). */
function readmeBlock(heading: string, lang: string): string {
  const readme = readFileSync(join(findRepoRoot(), "README.md"), "utf8");
  const section = readme.slice(readme.indexOf(`## ${heading}`));
  const code = new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(section)?.[1];
  if (!code) throw new Error(`README has no ${lang} block under '${heading}'`);
  return code;
}

/** The code of the js block under "## Embedding the runtime". */
export function readmeEmbeddingExample(): string {
  return readmeBlock("Embedding the runtime", "js");
}

/** The code of the ts block under "## HTTP client". */
export function readmeClientExample(): string {
  return readmeBlock("HTTP client", "ts");
}
