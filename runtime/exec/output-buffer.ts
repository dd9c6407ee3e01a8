// A guest's output: appended in chunks as it writes, read whole (merged once, then cached) or as
// the part written since some offset, without merging everything each time. Small writes (a
// program's printf lines) are gathered into a shared tail block rather than kept one array each,
// which would cost an allocation per write and a garbage collector busy with them.

/** Writes up to this size are copied into the tail block. */
const SMALL_WRITE_BYTES = 1024;
/** The tail block's size. */
const TAIL_BYTES = 64 * 1024;

export class OutputBuffer {
  private chunks: Uint8Array[] = [];
  private total = 0;
  /** Small writes not yet sealed into `chunks`: tail[0, tailUsed). */
  private tail: Uint8Array | undefined;
  private tailUsed = 0;

  get byteLength(): number {
    return this.total;
  }

  /**
   * Append `bytes`: a copy, since the guest's memory may change under a view — unless the caller
   * hands over bytes nobody else holds (`owned`, e.g. a message that just crossed IPC).
   */
  append(bytes: Uint8Array, owned = false): void {
    const n = bytes.byteLength;
    if (n === 0) return;
    this.total += n;
    if (owned || n > SMALL_WRITE_BYTES) {
      this.seal();
      this.chunks.push(owned ? bytes : bytes.slice());
      return;
    }
    if (this.tail && this.tailUsed + n > this.tail.byteLength) this.seal();
    this.tail ??= new Uint8Array(TAIL_BYTES);
    this.tail.set(bytes, this.tailUsed);
    this.tailUsed += n;
  }

  /** The tail's bytes become a chunk: the block itself when full, else a copy (the block is reused). */
  private seal(): void {
    if (!this.tail || this.tailUsed === 0) return;
    if (this.tailUsed === this.tail.byteLength) {
      this.chunks.push(this.tail);
      this.tail = undefined;
    } else this.chunks.push(this.tail.slice(0, this.tailUsed));
    this.tailUsed = 0;
  }

  /** Everything written so far, as one array (the same one until more is written). */
  all(): Uint8Array {
    this.seal();
    if (this.chunks.length !== 1) this.chunks = [concat(this.chunks, this.total)];
    return this.chunks[0] ?? EMPTY;
  }

  /** The bytes from `offset` on, touching only the chunks that hold them. */
  since(offset: number): Uint8Array {
    if (offset >= this.total) return EMPTY;
    if (offset <= 0) return this.all();
    this.seal();
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
    this.tailUsed = 0;
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
