// The WASI calls that name paths: each is resolved against a directory descriptor inside its tree
// (normalizeTreePath: no absolute paths, no NUL, no ".." above the tree's root; the Directory never
// follows a symlink), so no path leaves its preopen. Creating symlinks and hard links is refused.

import { type Directory, type EntryStat, FsError, normalizeTreePath } from "../../resources/directory.js";
import { DIR_RIGHTS, ERRNO, FILE_RIGHTS, OFLAGS, RIGHT, WRITE_RIGHTS } from "./abi.js";
import { writeFilestat, timesOf } from "./calls-fd.js";
import type { FdEntry } from "./fd-table.js";
import { WasiErrno } from "./guest-view.js";
import type { SessionCall, WasiSession } from "./session.js";

/** The directory entry `fd` (with `right`) and the tree path `path` names under it. */
function resolve(s: WasiSession, fd: number, right: bigint, ptr: number, len: number): { dir: FdEntry; path: string } {
  const dir = s.fd(fd, right);
  s.dir(dir);
  return { dir, path: normalizeTreePath(dir.path, s.view().string(ptr, len)) };
}

interface OpenRequest {
  oflags: number;
  base: bigint;
  inheriting: bigint;
  fdflags: number;
}

/** The entry at `path`, or undefined when it does not exist and the open may create it. */
function statIfAny(tree: Directory, path: string, create: boolean): EntryStat | undefined {
  try {
    return tree.stat(path);
  } catch (e) {
    if (create && e instanceof FsError && e.errno === "ENOENT") return undefined;
    throw e;
  }
}

function openPath(s: WasiSession, dirFd: number, ptr: number, len: number, req: OpenRequest, out: number): void {
  const { dir, path } = resolve(s, dirFd, RIGHT.PATH_OPEN, ptr, len);
  const tree = s.dir(dir);
  const create = (req.oflags & OFLAGS.CREAT) !== 0;
  const truncate = (req.oflags & OFLAGS.TRUNC) !== 0;
  if (create && (dir.rights & RIGHT.PATH_CREATE_FILE) === 0n) throw new WasiErrno(ERRNO.NOTCAPABLE, "may not create files here");
  // What the new fd may do: what was asked, within what the directory passes on.
  const wanted = req.base & dir.inheriting;
  const write = (req.base & RIGHT.FD_WRITE) !== 0n || truncate;
  if (write && (dir.inheriting & RIGHT.FD_WRITE) === 0n) throw new WasiErrno(ERRNO.NOTCAPABLE, "a read-only directory");
  const existing = statIfAny(tree, path, create);
  if (req.oflags & OFLAGS.DIRECTORY || existing?.type === "directory") {
    if (!existing) throw new WasiErrno(ERRNO.NOENT, path);
    if (existing.type !== "directory") throw new WasiErrno(ERRNO.NOTDIR, path);
    if (write) throw new WasiErrno(ERRNO.ISDIR, path);
    const entry: FdEntry = {
      kind: "directory",
      tree: dir.tree,
      path,
      offset: 0,
      rights: wanted & DIR_RIGHTS,
      inheriting: req.inheriting & dir.inheriting,
      fdflags: req.fdflags,
      write: false,
    };
    s.view().setU32(out, s.table.add(entry));
    return;
  }
  const handle = tree.openFile(path, { create, exclusive: (req.oflags & OFLAGS.EXCL) !== 0, truncate, write });
  const entry: FdEntry = {
    kind: "file",
    tree: dir.tree,
    path,
    offset: 0,
    rights: wanted & FILE_RIGHTS & (write ? ~0n : ~WRITE_RIGHTS),
    inheriting: 0n,
    fdflags: req.fdflags & 0x1f,
    write,
    handle,
  };
  try {
    s.view().setU32(out, s.table.add(entry));
  } catch (e) {
    handle.close();
    throw e;
  }
}

export const PATH_CALLS: Record<string, SessionCall> = {
  path_open: (
    s: WasiSession,
    fd: number,
    _lookup: number,
    ptr: number,
    len: number,
    oflags: number,
    base: bigint,
    inh: bigint,
    fdflags: number,
    out: number,
  ) => openPath(s, fd, ptr, len, { oflags, base, inheriting: inh, fdflags }, out),
  path_filestat_get: (s: WasiSession, fd: number, _lookup: number, ptr: number, len: number, out: number) => {
    const { dir, path } = resolve(s, fd, RIGHT.PATH_FILESTAT_GET, ptr, len);
    writeFilestat(s.view(), out, s.dir(dir).stat(path));
  },
  path_filestat_set_times: (
    s: WasiSession,
    fd: number,
    _lookup: number,
    ptr: number,
    len: number,
    atim: bigint,
    mtim: bigint,
    flags: number,
  ) => {
    const { dir, path } = resolve(s, fd, RIGHT.PATH_FILESTAT_SET_TIMES, ptr, len);
    const [a, m] = timesOf(atim, mtim, flags);
    s.dir(dir).setTimes(path, a, m);
  },
  path_create_directory: (s: WasiSession, fd: number, ptr: number, len: number) => {
    const { dir, path } = resolve(s, fd, RIGHT.PATH_CREATE_DIRECTORY, ptr, len);
    s.dir(dir).mkdir(path);
  },
  path_remove_directory: (s: WasiSession, fd: number, ptr: number, len: number) => {
    const { dir, path } = resolve(s, fd, RIGHT.PATH_REMOVE_DIRECTORY, ptr, len);
    if (path === "") return ERRNO.NOTCAPABLE; // a preopen's own root stays
    s.dir(dir).rmdir(path);
  },
  path_unlink_file: (s: WasiSession, fd: number, ptr: number, len: number) => {
    const { dir, path } = resolve(s, fd, RIGHT.PATH_UNLINK_FILE, ptr, len);
    s.dir(dir).unlink(path);
  },
  path_rename: (s: WasiSession, fd: number, ptr: number, len: number, newFd: number, newPtr: number, newLen: number) => {
    const from = resolve(s, fd, RIGHT.PATH_RENAME_SOURCE, ptr, len);
    const to = resolve(s, newFd, RIGHT.PATH_RENAME_TARGET, newPtr, newLen);
    if (from.dir.tree !== to.dir.tree) return ERRNO.XDEV;
    if (from.path === "" || to.path === "") return ERRNO.NOTCAPABLE;
    s.dir(from.dir).rename(from.path, to.path);
  },
  path_readlink: (s: WasiSession, fd: number, ptr: number, len: number, buf: number, bufLen: number, used: number) => {
    const { dir, path } = resolve(s, fd, RIGHT.PATH_READLINK, ptr, len);
    const target = new TextEncoder().encode(s.dir(dir).readlink(path));
    const n = Math.min(target.byteLength, bufLen >>> 0);
    const view = s.view();
    view.slice(buf, n).set(target.subarray(0, n));
    view.setU32(used, n);
  },
  // Links are refused: a symlink could point anywhere, and this host never follows one anyway.
  path_symlink: (_s: WasiSession) => ERRNO.NOTCAPABLE,
  path_link: (_s: WasiSession) => ERRNO.NOTCAPABLE,
};
