// A guest's output: appended in chunks as it writes, read whole (merged once, then cached) or as
// the part written since some offset, without merging everything each time.

export class OutputBuffer {
  private chunks: Uint8Array[] = [];
  private total = 0;

  get byteLength(): number {
    return this.total;
  }

  /**
   * Append `bytes`: a copy, since the guest's memory may change under a view — unless the caller
   * hands over bytes nobody else holds (`owned`, e.g. a message that just crossed IPC).
   */
  append(bytes: Uint8Array, owned = false): void {
    if (bytes.byteLength === 0) return;
    this.chunks.push(owned ? bytes : bytes.slice());
    this.total += bytes.byteLength;
  }

  /** Everything written so far, as one array (the same one until more is written). */
  all(): Uint8Array {
    if (this.chunks.length !== 1) this.chunks = [concat(this.chunks, this.total)];
    return this.chunks[0] ?? EMPTY;
  }

  /** The bytes from `offset` on, touching only the chunks that hold them. */
  since(offset: number): Uint8Array {
    if (offset >= this.total) return EMPTY;
    if (offset <= 0) return this.all();
    const tail: Uint8Array[] = [];
    let end = this.total;
    for (let i = this.chunks.length - 1; i >= 0 && end > offset; i--) {
      const c = this.chunks[i]!;
      const start = end - c.byteLength;
      tail.unshift(start >= offset ? c : c.subarray(offset - start));
      end = start;
    }
    return tail.length === 1 ? tail[0]! : concat(tail, this.total - offset);
  }

  /** Replace the contents (a restored snapshot's output). */
  reset(bytes: Uint8Array = EMPTY): void {
    this.chunks = bytes.byteLength ? [bytes.slice()] : [];
    this.total = bytes.byteLength;
  }
}

const EMPTY = new Uint8Array(0);

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
