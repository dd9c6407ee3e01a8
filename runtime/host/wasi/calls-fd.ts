// The WASI calls on open descriptors: reading and writing (fd 0 is the job's input, 1 its output, 2
// its log; files are read and written at the entry's offset), seeking, status, directory listing,
// renumbering and closing. A call moves at most MAX_HOST_IO_BYTES; a longer request returns a short
// count, which every caller must handle anyway.

import { MAX_HOST_IO_BYTES } from "../../limits.js";
import type { EntryStat } from "../../resources/directory.js";
import { DIRENT_BYTES, ERRNO, FDFLAGS, FDSTAT_BYTES, FILESTAT_BYTES, FILETYPE, FILETYPE_OF, FSTFLAGS, RIGHT, WHENCE } from "./abi.js";
import { HOST_CALL_FUEL, hostCallFuel } from "../guest-call.js";
import type { FdEntry } from "./fd-table.js";
import { type GuestView, utf8Bytes, WasiErrno } from "./guest-view.js";
import type { SessionCall, WasiSession } from "./session.js";

const utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

export function writeFilestat(view: GuestView, ptr: number, st: EntryStat | undefined): void {
  view.slice(ptr, FILESTAT_BYTES).fill(0);
  if (!st) {
    view.setU8(ptr + 16, FILETYPE.CHARACTER_DEVICE);
    return;
  }
  view.setU64(ptr + 8, st.ino);
  view.setU8(ptr + 16, FILETYPE_OF[st.type]);
  view.setU64(ptr + 24, st.nlink);
  view.setU64(ptr + 32, st.size);
  view.setU64(ptr + 40, st.atimeNs);
  view.setU64(ptr + 48, st.mtimeNs);
  view.setU64(ptr + 56, st.ctimeNs);
}

/** The times a *_set_times call asks for: a value, now, or unchanged (undefined). */
export function timesOf(atim: bigint, mtim: bigint, flags: number): [bigint | undefined, bigint | undefined] {
  if ((flags & FSTFLAGS.ATIM && flags & FSTFLAGS.ATIM_NOW) || (flags & FSTFLAGS.MTIM && flags & FSTFLAGS.MTIM_NOW)) {
    throw new WasiErrno(ERRNO.INVAL, "a time both given and now");
  }
  const now = BigInt(Date.now()) * 1_000_000n;
  const pick = (value: bigint, set: number, setNow: number) => (flags & setNow ? now : flags & set ? value : undefined);
  return [pick(atim, FSTFLAGS.ATIM, FSTFLAGS.ATIM_NOW), pick(mtim, FSTFLAGS.MTIM, FSTFLAGS.MTIM_NOW)];
}

/** Read into the iovecs from `source` until one comes back short; returns the total. */
function gather(buffers: Uint8Array[], source: (into: Uint8Array) => number): number {
  let total = 0;
  for (const b of buffers) {
    const room = Math.min(b.byteLength, MAX_HOST_IO_BYTES - total);
    if (room <= 0) break;
    const n = source(b.subarray(0, room));
    total += n;
    if (n < room) break;
  }
  return total;
}

function readFrom(s: WasiSession, e: FdEntry, buffers: Uint8Array[], position: number | undefined): number {
  if (e.kind === "stdin") {
    let at = position ?? e.offset;
    const n = gather(buffers, (into) => {
      const k = Math.max(0, Math.min(into.byteLength, s.io.input.byteLength - at));
      into.set(s.io.input.subarray(at, at + k));
      at += k;
      return k;
    });
    if (position === undefined) e.offset += n;
    return n;
  }
  if (e.kind !== "file") throw new WasiErrno(e.kind === "directory" ? ERRNO.ISDIR : ERRNO.BADF, "not readable");
  const file = s.file(e);
  let at = position ?? e.offset;
  const n = file.readv
    ? file.readv(buffers, at)
    : gather(buffers, (into) => {
        const k = file.read(into, at);
        at += k;
        return k;
      });
  if (position === undefined) e.offset += n;
  return n;
}

function writeTo(s: WasiSession, e: FdEntry, pieces: Uint8Array[], position: number | undefined): number {
  if (e.kind === "stdout" || e.kind === "stderr") {
    let total = 0;
    for (const p of pieces) total += p.byteLength;
    if (e.kind === "stderr") s.writeStderr(pieces.map((p) => utf8.decode(p, { stream: true })).join(""));
    else for (const p of pieces) s.io.writeOutput(p);
    return total;
  }
  if (e.kind !== "file") throw new WasiErrno(e.kind === "directory" ? ERRNO.ISDIR : ERRNO.BADF, "not writable");
  const file = s.file(e);
  let at = position ?? (e.fdflags & FDFLAGS.APPEND ? file.stat().size : e.offset);
  let written = 0;
  if (file.writev) {
    written = file.writev(pieces, at);
    at += written;
  } else {
    for (const p of pieces) {
      const n = file.write(p, at);
      at += n;
      written += n;
      if (n < p.byteLength) break;
    }
  }
  if (position === undefined) e.offset = at;
  return written;
}

function position(offset: bigint): number {
  if (offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new WasiErrno(ERRNO.INVAL, "an offset out of range");
  return Number(offset);
}

function seek(s: WasiSession, fd: number, offset: bigint, whence: number, out: number): void {
  const e = s.fd(fd, offset === 0n && whence === WHENCE.CUR ? RIGHT.FD_TELL : RIGHT.FD_SEEK);
  if (e.kind !== "file") throw new WasiErrno(e.kind === "directory" ? ERRNO.ISDIR : ERRNO.SPIPE, "not seekable");
  const base = whence === WHENCE.SET ? 0 : whence === WHENCE.CUR ? e.offset : whence === WHENCE.END ? s.file(e).stat().size : -1;
  if (base < 0) throw new WasiErrno(ERRNO.INVAL, `whence ${whence}`);
  const next = BigInt(base) + offset;
  if (next < 0n) throw new WasiErrno(ERRNO.INVAL, "a position before the start");
  e.offset = position(next);
  s.view().setU64(out, next);
}

function fdstat(s: WasiSession, fd: number, out: number): void {
  const e = s.fd(fd);
  const view = s.view();
  view.slice(out, FDSTAT_BYTES).fill(0);
  const type = e.kind === "directory" ? FILETYPE.DIRECTORY : e.kind === "file" ? FILETYPE.REGULAR_FILE : FILETYPE.CHARACTER_DEVICE;
  view.setU8(out, type);
  view.setU16(out + 2, e.fdflags);
  view.setU64(out + 8, e.rights);
  view.setU64(out + 16, e.inheriting);
}

function statOf(s: WasiSession, e: FdEntry): EntryStat | undefined {
  if (e.kind === "file") return s.file(e).stat();
  if (e.kind === "directory") return s.dir(e).stat(e.path);
  return undefined;
}

/** fd_readdir: ".", ".." then the entries by name; the cookie is the index of the next one. */
function readdir(s: WasiSession, fd: number, buf: number, len: number, cookie: bigint, usedPtr: number): void {
  const e = s.fd(fd, RIGHT.FD_READDIR);
  const tree = s.dir(e);
  const entries = [
    { name: ".", type: "directory" as const, ino: tree.stat(e.path).ino },
    { name: "..", type: "directory" as const, ino: 0n },
    ...tree.list(e.path),
  ];
  const view = s.view();
  const room = len >>> 0;
  const out = view.slice(buf, room);
  let used = 0;
  for (let i = Number(cookie > BigInt(entries.length) ? BigInt(entries.length) : cookie); i < entries.length && used < room; i++) {
    const d = entries[i]!;
    const name = utf8Bytes(d.name);
    const record = new Uint8Array(DIRENT_BYTES + name.byteLength);
    const dv = new DataView(record.buffer);
    dv.setBigUint64(0, BigInt(i + 1), true);
    dv.setBigUint64(8, BigInt.asUintN(64, d.ino), true);
    dv.setUint32(16, name.byteLength, true);
    dv.setUint8(20, FILETYPE_OF[d.type]);
    record.set(name, DIRENT_BYTES);
    // A record that does not fit is cut: a full buffer tells the caller to ask again with a larger one.
    const n = Math.min(record.byteLength, room - used);
    out.set(record.subarray(0, n), used);
    used += n;
  }
  view.setU32(usedPtr, used);
}

const READ = RIGHT.FD_READ;
const WRITE = RIGHT.FD_WRITE;
const PREAD = RIGHT.FD_READ | RIGHT.FD_SEEK;
const PWRITE = RIGHT.FD_WRITE | RIGHT.FD_SEEK;

/**
 * One read or write over iovecs (cut to MAX_HOST_IO_BYTES in all): at the entry's offset (which then
 * moves) or, for the positioned calls, at `offset` (a file only). The guest is charged the bytes
 * moved, at the host-call rate.
 */
function transfer(s: WasiSession, write: boolean, fd: number, iovs: number, count: number, offset: bigint | undefined, out: number): void {
  const e = s.fd(fd, offset === undefined ? (write ? WRITE : READ) : write ? PWRITE : PREAD);
  const view = s.view();
  const buffers = view.iovecs(iovs, count, MAX_HOST_IO_BYTES);
  if (offset !== undefined && e.kind !== "file") throw new WasiErrno(ERRNO.SPIPE, "not seekable");
  const at = offset === undefined ? undefined : position(offset);
  const n = write ? writeTo(s, e, buffers, at) : readFrom(s, e, buffers, at);
  s.io.charge(hostCallFuel(n) - HOST_CALL_FUEL);
  // The same view: nothing a read or write does grows the guest's memory.
  view.setU32(out, n);
}

const FD_STATUS_CALLS: Record<string, SessionCall> = {
  fd_seek: (s: WasiSession, fd: number, offset: bigint, whence: number, out: number) => seek(s, fd, offset, whence, out),
  fd_tell: (s: WasiSession, fd: number, out: number) => seek(s, fd, 0n, WHENCE.CUR, out),
  fd_close: (s: WasiSession, fd: number) => s.table.close(fd),
  fd_sync: (s: WasiSession, fd: number) => {
    const e = s.fd(fd, RIGHT.FD_SYNC);
    if (e.kind === "file") s.file(e).sync();
  },
  fd_datasync: (s: WasiSession, fd: number) => {
    const e = s.fd(fd, RIGHT.FD_DATASYNC);
    if (e.kind === "file") s.file(e).sync();
  },
  fd_fdstat_get: (s: WasiSession, fd: number, out: number) => fdstat(s, fd, out),
  fd_fdstat_set_flags: (s: WasiSession, fd: number, flags: number) => {
    const e = s.fd(fd, RIGHT.FD_FDSTAT_SET_FLAGS);
    // Only APPEND changes what this host does; the sync flags are honoured by fd_sync, NONBLOCK never blocks here.
    e.fdflags = flags & 0x1f;
  },
  fd_fdstat_set_rights: (s: WasiSession, fd: number, base: bigint, inheriting: bigint) => {
    const e = s.fd(fd);
    // Rights can only shrink.
    if ((base & ~e.rights) !== 0n || (inheriting & ~e.inheriting) !== 0n) return ERRNO.NOTCAPABLE;
    e.rights = base;
    e.inheriting = inheriting;
  },
  fd_filestat_get: (s: WasiSession, fd: number, out: number) => writeFilestat(s.view(), out, statOf(s, s.fd(fd, RIGHT.FD_FILESTAT_GET))),
  fd_filestat_set_size: (s: WasiSession, fd: number, size: bigint) => s.file(s.fd(fd, RIGHT.FD_FILESTAT_SET_SIZE)).setSize(position(size)),
  fd_filestat_set_times: (s: WasiSession, fd: number, atim: bigint, mtim: bigint, flags: number) => {
    const e = s.fd(fd, RIGHT.FD_FILESTAT_SET_TIMES);
    const [a, m] = timesOf(atim, mtim, flags);
    if (e.kind === "directory") s.dir(e).setTimes(e.path, a, m);
    else s.file(e).setTimes(a, m);
  },
  fd_advise: (s: WasiSession, fd: number) => {
    s.fd(fd, RIGHT.FD_ADVISE);
  },
  fd_allocate: (s: WasiSession, fd: number, offset: bigint, len: bigint) => {
    const file = s.file(s.fd(fd, RIGHT.FD_ALLOCATE));
    const end = position(offset + len);
    if (file.stat().size < end) file.setSize(end);
  },
  fd_prestat_get: (s: WasiSession, fd: number, out: number) => {
    const e = s.fd(fd);
    if (e.preopen === undefined) return ERRNO.BADF;
    const view = s.view();
    view.slice(out, 8).fill(0);
    view.setU32(out + 4, utf8Bytes(e.preopen).byteLength);
  },
  fd_prestat_dir_name: (s: WasiSession, fd: number, buf: number, len: number) => {
    const e = s.fd(fd);
    if (e.preopen === undefined) return ERRNO.BADF;
    const name = utf8Bytes(e.preopen);
    if (len >>> 0 < name.byteLength) return ERRNO.NAMETOOLONG;
    s.view().slice(buf, name.byteLength).set(name);
  },
  fd_readdir: (s: WasiSession, fd: number, buf: number, len: number, cookie: bigint, used: number) =>
    readdir(s, fd, buf, len, cookie, used),
  fd_renumber: (s: WasiSession, from: number, to: number) => {
    const e = s.table.get(from);
    s.table.get(to);
    if (from >>> 0 === to >>> 0) return;
    s.table.drop(to);
    s.table.entries.delete(from >>> 0);
    s.table.set(to >>> 0, e);
  },
};
export const FD_CALLS: Record<string, SessionCall> = Object.assign({}, FD_STATUS_CALLS, {
  fd_read: (s: WasiSession, fd: number, iovs: number, count: number, out: number) => transfer(s, false, fd, iovs, count, undefined, out),
  fd_pread: (s: WasiSession, fd: number, iovs: number, count: number, offset: bigint, out: number) =>
    transfer(s, false, fd, iovs, count, offset, out),
  fd_write: (s: WasiSession, fd: number, iovs: number, count: number, out: number) => transfer(s, true, fd, iovs, count, undefined, out),
  fd_pwrite: (s: WasiSession, fd: number, iovs: number, count: number, offset: bigint, out: number) =>
    transfer(s, true, fd, iovs, count, offset, out),
});

/** Seeking, syncing, status, flags, rights, sizes and times, preopens, listing, renumbering. */
