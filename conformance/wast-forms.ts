// A .wast script's top-level forms — `(module …)`, `(assert_return …)`, … — with where each starts
// and ends, so that a form wast2json cannot convert can be blanked out (its lines kept, so every
// line number in the report is the file's own) and the rest converted.

export interface Form {
  start: number;
  end: number;
  /** 1-based lines of its first and last character. */
  firstLine: number;
  lastLine: number;
  /** The form's keyword: module, assert_return, register, … */
  head: string;
}

/** The forms in source[from, to) (the whole script, or the inside of one form: a module's fields). */
export function splitForms(source: string, from = 0, to = source.length, fromLine = 1): Form[] {
  const forms: Form[] = [];
  let depth = 0;
  let line = fromLine;
  let start = 0;
  let firstLine = 0;
  let i = from;
  const n = to;
  while (i < n) {
    const c = source[i]!;
    if (c === "\n") {
      line++;
      i++;
    } else if (c === ";" && source[i + 1] === ";") {
      while (i < n && source[i] !== "\n") i++;
    } else if (c === "(" && source[i + 1] === ";") {
      // Block comments nest.
      let nest = 1;
      i += 2;
      while (i < n && nest > 0) {
        if (source[i] === "(" && source[i + 1] === ";") {
          nest++;
          i += 2;
        } else if (source[i] === ";" && source[i + 1] === ")") {
          nest--;
          i += 2;
        } else {
          if (source[i] === "\n") line++;
          i++;
        }
      }
    } else if (c === '"') {
      i++;
      while (i < n && source[i] !== '"') {
        if (source[i] === "\\") i++;
        else if (source[i] === "\n") line++;
        i++;
      }
      i++;
    } else if (c === "(") {
      if (depth === 0) {
        start = i;
        firstLine = line;
      }
      depth++;
      i++;
    } else if (c === ")") {
      depth--;
      i++;
      if (depth === 0) {
        const head = /^\(\s*([^\s()]+)/.exec(source.slice(start, Math.min(n, start + 80)))?.[1] ?? "";
        forms.push({ start, end: i, firstLine, lastLine: line, head });
      }
    } else i++;
  }
  return forms;
}

/** A module's fields — (func …), (type …), (memory …) — inside its form. */
export function fieldsOf(source: string, form: Form): Form[] {
  return splitForms(source, form.start + 1, form.end - 1, form.firstLine);
}

/** The source with the given forms replaced by spaces (newlines kept). */
export function blankForms(source: string, forms: Iterable<Form>): string {
  const chars = source.split("");
  for (const f of forms) for (let i = f.start; i < f.end; i++) if (chars[i] !== "\n") chars[i] = " ";
  return chars.join("");
}
