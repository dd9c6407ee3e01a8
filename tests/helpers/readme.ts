// The README's embedding example, as the tests run it: the js block under "Embedding the runtime".
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { findRepoRoot } from "../../guest/catalog.js";

/** The code of the js block under "## Embedding the runtime" (throws when there is none). */
export function readmeEmbeddingExample(): string {
  const readme = readFileSync(join(findRepoRoot(), "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Embedding the runtime"));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code) throw new Error("README has no js block under 'Embedding the runtime'");
  return code;
}
