// Example guest: word frequencies of the UTF-8 input. Exercises strings, Map, arrays, sorting,
// the managed heap and the incremental GC (one short-lived string per word).

import { readInputString, writeString } from "../sdk";
export { ferry_continuation } from "../sdk";

class WordCount {
  constructor(public word: string, public count: i32) {}
}

// A word is a run of ASCII letters and digits; every other code unit separates words.
function isWordChar(c: i32): bool {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39);
}

// ASCII-only lowercasing, so the result never depends on Unicode case tables.
function asciiLower(s: string): string {
  let out = "";
  for (let i = 0, n = s.length; i < n; i++) {
    const c = s.charCodeAt(i);
    out += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 32 : c);
  }
  return out;
}

// Count descending, then word ascending by UTF-16 code units (AssemblyScript's string `<`).
function byCountThenWord(a: WordCount, b: WordCount): i32 {
  if (a.count != b.count) return b.count - a.count;
  if (a.word < b.word) return -1;
  if (a.word > b.word) return 1;
  return 0;
}

/** Writes the `top` most frequent words as "<word> <count>\n"; returns the distinct word count. */
export function main(top: i32): i32 {
  const text = readInputString();
  const counts = new Map<string, i32>();
  const n = text.length;
  let start = -1;
  for (let i = 0; i <= n; i++) {
    const inWord = i < n && isWordChar(text.charCodeAt(i));
    if (inWord) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      const word = asciiLower(text.substring(start, i));
      counts.set(word, counts.has(word) ? counts.get(word) + 1 : 1);
      start = -1;
    }
  }
  const words = counts.keys();
  const entries = new Array<WordCount>(words.length);
  for (let i = 0; i < words.length; i++) {
    const w = unchecked(words[i]);
    unchecked((entries[i] = new WordCount(w, counts.get(w))));
  }
  entries.sort(byCountThenWord);
  const shown = min(top, entries.length);
  for (let i = 0; i < shown; i++) {
    const e = unchecked(entries[i]);
    writeString(e.word + " " + e.count.toString() + "\n");
  }
  return counts.size;
}
