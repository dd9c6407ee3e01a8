// A guest run raw: the module as V8 runs it, uninstrumented, with the plainest host functions that
// satisfy Ferry's core imports (`ferry.*`) and AssemblyScript's (`env.*`). The oracle of every
// differential check — the tests, the fuzzers and the benchmarks compare Ferry's runs with this one.

/** What a raw host serves and reports. */
export interface RawHostOptions {
  /** The bytes `ferry.input_read` serves. */
  input?: Uint8Array;
  /** The most one `input_read` moves (short reads are allowed by the ABI; the SDK loops). */
  maxReadBytes?: number;
  /** `ferry.checkpoint`'s reply to its n-th call (0: go on; 1: stop there). Default: always 0. */
  checkpoint?: (n: number) => number;
  /** Copy what the guest writes and drop it (a hostile shape may write gigabytes); `output()` is then empty. */
  discardOutput?: boolean;
  /** Every `ferry.log` line, and each AssemblyScript `trace` as "message a, b". */
  onLog?: (line: string) => void;
}

/** Thrown by AssemblyScript's `abort`: the guest's own assertion failed. */
export class GuestAbort extends Error {
  override readonly name = "GuestAbort";
}

export interface RawHost {
  /** The import object: `ferry` and `env`, ready to extend with more modules or functions. */
  imports: { ferry: Record<string, (...args: number[]) => number | void>; env: Record<string, (...args: number[]) => number | void> };
  /** Call once the instance exists: the host functions read and write its memory. */
  attach(memory: WebAssembly.Memory): void;
  /** Everything the guest wrote with `output_write`, in order. */
  output(): Uint8Array;
  /** The guest's memory as bytes (throws if a host function runs before `attach`). */
  bytes(): Uint8Array;
}

export function rawHost(options: RawHostOptions = {}): RawHost {
  const input = options.input ?? new Uint8Array(0);
  const maxRead = options.maxReadBytes ?? Number.POSITIVE_INFINITY;
  const onLog = options.onLog ?? (() => {});
  let memory: WebAssembly.Memory | undefined;
  const mem = (): WebAssembly.Memory => {
    if (!memory) throw new Error("guest called the host before instantiation finished");
    return memory;
  };
  const bytes = (): Uint8Array => new Uint8Array(mem().buffer);
  const chunks: Uint8Array[] = [];
  let checkpoints = 0;
  const ferry = {
    yield: (): void => {},
    checkpoint: (): number => options.checkpoint?.(checkpoints++) ?? 0,
    log: (ptr: number, len: number): void => onLog(Buffer.from(mem().buffer, ptr >>> 0, len >>> 0).toString("utf8")),
    input_size: (): number => input.byteLength,
    input_read: (dst: number, offset: number, len: number): number => {
      const n = Math.max(0, Math.min(len >>> 0, maxRead, input.byteLength - (offset >>> 0)));
      if (n > 0) bytes().set(input.subarray(offset >>> 0, (offset >>> 0) + n), dst >>> 0);
      return n;
    },
    output_write: (ptr: number, len: number): void => {
      const written = bytes().slice(ptr >>> 0, (ptr >>> 0) + (len >>> 0));
      if (!options.discardOutput) chunks.push(written);
    },
  };
  const env = {
    abort: (msg: number, file: number, line: number, column: number): never => {
      throw new GuestAbort(`${asString(mem(), msg)} at ${asString(mem(), file)}:${line}:${column}`);
    },
    trace: (msg: number, n: number, ...args: number[]): void => onLog(`${asString(mem(), msg)} ${args.slice(0, n).join(", ")}`),
    seed: (): number => 0x5eed,
  };
  return {
    imports: { ferry, env },
    attach: (m) => {
      memory = m;
    },
    output: () => Buffer.concat(chunks),
    bytes,
  };
}

/** An AssemblyScript string (UTF-16, its byte length in the 4 bytes before it) out of guest memory. */
export function asString(memory: WebAssembly.Memory, ptr: number): string {
  if (ptr < 4) return "";
  const length = new DataView(memory.buffer).getUint32(ptr - 4, true);
  return Buffer.from(memory.buffer, ptr, Math.min(length, memory.buffer.byteLength - ptr)).toString("utf16le");
}
