// Binary min-heap of simulation events ordered by (time, insertion order): equal times pop in the
// order they were pushed, so runs are reproducible. Fields live in typed arrays indexed by slot.

export class EventQueue<T> {
  private time = new Float64Array(1024);
  private seq = new Float64Array(1024);
  private kind = new Uint8Array(1024);
  private node = new Int32Array(1024);
  private arg = new Int32Array(1024);
  private obj: (T | undefined)[] = new Array<T | undefined>(1024);
  private heap = new Int32Array(1024);
  private free: number[] = [];
  private used = 0; // slots ever handed out
  private n = 0; // events in the heap
  private counter = 0;

  get size(): number {
    return this.n;
  }

  push(time: number, kind: number, node: number, arg: number, obj?: T): void {
    const slot = this.free.length > 0 ? this.free.pop()! : this.newSlot();
    this.time[slot] = time;
    this.seq[slot] = this.counter++;
    this.kind[slot] = kind;
    this.node[slot] = node;
    this.arg[slot] = arg;
    this.obj[slot] = obj;
    let i = this.n++;
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (!this.less(slot, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = slot;
  }

  /**
   * Removes the earliest event and returns its slot; read it with `timeOf` etc. before the next
   * push (pushing may reuse the slot). Returns −1 when empty.
   */
  pop(): number {
    if (this.n === 0) return -1;
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap[--this.n]!;
    const n = this.n;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && this.less(heap[right]!, heap[child]!)) child = right;
      if (!this.less(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    if (n > 0) heap[i] = last;
    this.free.push(top);
    return top;
  }

  timeOf(slot: number): number {
    return this.time[slot]!;
  }
  kindOf(slot: number): number {
    return this.kind[slot]!;
  }
  nodeOf(slot: number): number {
    return this.node[slot]!;
  }
  argOf(slot: number): number {
    return this.arg[slot]!;
  }
  /** The payload; the slot's reference is dropped so the object can be collected. */
  takeObj(slot: number): T | undefined {
    const o = this.obj[slot];
    this.obj[slot] = undefined;
    return o;
  }

  private less(a: number, b: number): boolean {
    const ta = this.time[a]!;
    const tb = this.time[b]!;
    return ta < tb || (ta === tb && this.seq[a]! < this.seq[b]!);
  }

  private newSlot(): number {
    if (this.used === this.time.length) this.grow();
    return this.used++;
  }

  private grow(): void {
    const size = this.time.length * 2;
    const grown = <A extends Float64Array | Uint8Array | Int32Array>(a: A, make: (n: number) => A): A => {
      const b = make(size);
      b.set(a);
      return b;
    };
    this.time = grown(this.time, (n) => new Float64Array(n));
    this.seq = grown(this.seq, (n) => new Float64Array(n));
    this.kind = grown(this.kind, (n) => new Uint8Array(n));
    this.node = grown(this.node, (n) => new Int32Array(n));
    this.arg = grown(this.arg, (n) => new Int32Array(n));
    this.heap = grown(this.heap, (n) => new Int32Array(n));
    this.obj.length = size;
  }
}
