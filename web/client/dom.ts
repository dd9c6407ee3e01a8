// Building the page: elements from tag, attributes and children — text always as text nodes, never
// parsed as HTML, so nothing a node or a guest returns can inject markup — and small formatters.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | ((e: Event) => void) | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Child[]): void {
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
}

/** Replace an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A table: header labels (a "#"-prefixed label is a numeric column) and rows of cells. */
export function table(headers: readonly string[], rows: Child[][], caption?: string): HTMLTableElement {
  const num = headers.map((x) => x.startsWith("#"));
  return h(
    "table",
    {},
    caption ? h("caption", { class: "muted" }, caption) : null,
    h(
      "thead",
      {},
      h("tr", {}, ...headers.map((x, i) => h("th", { class: num[i] ? "num" : undefined, scope: "col" }, x.replace(/^#/, "")))),
    ),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c, i) => h("td", { class: num[i] ? "num" : undefined }, c))))),
  );
}

/** A definition list from [term, value] pairs. */
export function facts(pairs: ReadonlyArray<[string, Child]>): HTMLDListElement {
  return h("dl", {}, ...pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

export const time = (ms: number | null | undefined): string => (ms ? new Date(ms).toLocaleTimeString() : "—");
export const short = (hash: string): string => (hash.length > 12 ? `${hash.slice(0, 12)}…` : hash);
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
export const count = (n: number): string => n.toLocaleString("en");

/** The page-wide status line (role=status: screen readers announce it). */
export function status(message: string, isError = false): void {
  const el = document.getElementById("status");
  if (!el) return;
  el.textContent = message;
  el.className = isError ? "error" : "muted";
}

/** Run `fn` now and every `ms` (never two at once); failures go to the status line. Returns how to stop. */
export function every(ms: number, fn: () => Promise<void>): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    try {
      await fn();
    } catch (e) {
      if (!stopped) status((e as Error).message, true);
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Let `p` run on its own; a failure goes to the status line, never to the console as an unhandled rejection. */
export function background(p: Promise<unknown>, what: string): void {
  p.catch((e: Error) => status(`${what}: ${e.message}`, true));
}
