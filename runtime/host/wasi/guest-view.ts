// Guest memory as WASI calls read and write it: little-endian fields at u32 addresses, every access
// bounds-checked. A pointer outside memory is the guest's mistake, answered with EFAULT (never a
// host exception), so `Fault` is thrown here and turned into the errno by the call wrapper.

import { ERRNO, type Errno } from "./abi.js";

/** A call's answer other than success, thrown from deep inside it and returned as the errno. */
export class WasiErrno extends Error {
  constructor(
    readonly errno: Errno,
    message = "",
  ) {
    super(message || `errno ${errno}`);
    this.name = "WasiErrno";
  }
}

export const fault = (): WasiErrno => new WasiErrno(ERRNO.FAULT, "a pointer outside the guest's memory");

// fatal: a path or name that is not UTF-8 is refused (EILSEQ is not in the subset; INVAL says it).
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

export class GuestView {
  private readonly dv: DataView;
  private readonly buffer: ArrayBufferLike;
  private readonly base: number;
  /**
   * bytes.byteLength, kept: on a view of a wasm memory's buffer the getter is not inlined (it
   * checks for detachment), and every bounds check reads it. A grow makes a new GuestView.
   */
  private readonly length: number;

  constructor(readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.buffer = bytes.buffer;
    this.base = bytes.byteOffset;
    this.length = bytes.byteLength;
  }

  /** `len` bytes at `ptr`, a view (copy it before keeping it). */
  slice(ptr: number, len: number): Uint8Array {
    const start = ptr >>> 0;
    const length = len >>> 0;
    if (start + length > this.length) throw fault();
    return this.view(start, length);
  }

  /** A view made from the buffer: cheaper than subarray (no species lookup), on every read and write. */
  private view(start: number, length: number): Uint8Array {
    return new Uint8Array(this.buffer, this.base + start, length);
  }

  private at(ptr: number, size: number): number {
    const p = ptr >>> 0;
    if (p + size > this.length) throw fault();
    return p;
  }

  u32(ptr: number): number {
    return this.dv.getUint32(this.at(ptr, 4), true);
  }
  u64(ptr: number): bigint {
    return this.dv.getBigUint64(this.at(ptr, 8), true);
  }
  setU8(ptr: number, v: number): void {
    this.dv.setUint8(this.at(ptr, 1), v);
  }
  setU16(ptr: number, v: number): void {
    this.dv.setUint16(this.at(ptr, 2), v, true);
  }
  setU32(ptr: number, v: number): void {
    this.dv.setUint32(this.at(ptr, 4), v >>> 0, true);
  }
  setU64(ptr: number, v: bigint | number): void {
    this.dv.setBigUint64(this.at(ptr, 8), BigInt.asUintN(64, BigInt(v)), true);
  }

  /** A UTF-8 string the guest passed (a path): INVAL when it is not UTF-8. */
  string(ptr: number, len: number): string {
    const bytes = this.slice(ptr, len);
    try {
      return utf8.decode(bytes);
    } catch {
      throw new WasiErrno(ERRNO.INVAL, "a name that is not UTF-8");
    }
  }

  /**
   * The buffers of an iovec array (`count` × {ptr u32, len u32}), as views, every one bounds-checked
   * whole, then cut to `maxBytes` in all (the ones past it empty).
   */
  iovecs(ptr: number, count: number, maxBytes: number): Uint8Array[] {
    const n = count >>> 0;
    if (n > 1024) throw new WasiErrno(ERRNO.INVAL, "more than 1024 iovecs (IOV_MAX)");
    // Made at its length (push would grow it): one iovec is the common case.
    const out = new Array<Uint8Array>(n);
    let room = maxBytes;
    for (let i = 0; i < n; i++) {
      const start = this.u32(ptr + i * 8);
      const length = this.u32(ptr + i * 8 + 4);
      if (start + length > this.length) throw fault();
      const take = Math.min(length, room);
      room -= take;
      out[i] = this.view(start, take);
    }
    return out;
  }
}

export function utf8Bytes(text: string): Uint8Array {
  return encoder.encode(text);
}
