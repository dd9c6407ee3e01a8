// WASI preview 1's numbers and layouts (the `wasi_snapshot_preview1` ABI, as wasi-libc and Rust's
// std use it): errno values, file types, flags, rights and the byte layout of the structs the host
// writes into guest memory. Only constants; what they mean for Ferry is in the other files here.

import type { EntryType, FsErrorName } from "../../resources/directory.js";

export const WASI_MODULE = "wasi_snapshot_preview1";

/** errno values (a subset: the ones this host returns). */
export const ERRNO = {
  SUCCESS: 0,
  "2BIG": 1,
  ACCES: 2,
  AGAIN: 6,
  BADF: 8,
  EXIST: 20,
  FAULT: 21,
  FBIG: 22,
  INVAL: 28,
  IO: 29,
  ISDIR: 31,
  LOOP: 32,
  MFILE: 33,
  NAMETOOLONG: 37,
  NOENT: 44,
  NOSPC: 51,
  NOSYS: 52,
  NOTDIR: 54,
  NOTEMPTY: 55,
  NOTSUP: 58,
  NOTTY: 59,
  OVERFLOW: 61,
  PERM: 63,
  ROFS: 69,
  SPIPE: 70,
  XDEV: 75,
  NOTCAPABLE: 76,
} as const;

export type Errno = (typeof ERRNO)[keyof typeof ERRNO];

/** A Directory's POSIX error name as a WASI errno. */
export const ERRNO_OF: Readonly<Record<FsErrorName, Errno>> = {
  EACCES: ERRNO.ACCES,
  EBADF: ERRNO.BADF,
  EEXIST: ERRNO.EXIST,
  EFBIG: ERRNO.FBIG,
  EINVAL: ERRNO.INVAL,
  EIO: ERRNO.IO,
  EISDIR: ERRNO.ISDIR,
  ELOOP: ERRNO.LOOP,
  EMFILE: ERRNO.MFILE,
  ENAMETOOLONG: ERRNO.NAMETOOLONG,
  ENOENT: ERRNO.NOENT,
  ENOSPC: ERRNO.NOSPC,
  ENOTDIR: ERRNO.NOTDIR,
  ENOTEMPTY: ERRNO.NOTEMPTY,
  ENOTCAPABLE: ERRNO.NOTCAPABLE,
  EPERM: ERRNO.PERM,
  EROFS: ERRNO.ROFS,
  EXDEV: ERRNO.XDEV,
};

export const FILETYPE = { UNKNOWN: 0, CHARACTER_DEVICE: 2, DIRECTORY: 3, REGULAR_FILE: 4, SYMBOLIC_LINK: 7 } as const;

export const FILETYPE_OF: Readonly<Record<EntryType, number>> = {
  file: FILETYPE.REGULAR_FILE,
  directory: FILETYPE.DIRECTORY,
  symlink: FILETYPE.SYMBOLIC_LINK,
  other: FILETYPE.UNKNOWN,
};

export const OFLAGS = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 } as const;
export const FDFLAGS = { APPEND: 1, DSYNC: 2, NONBLOCK: 4, RSYNC: 8, SYNC: 16 } as const;
export const WHENCE = { SET: 0, CUR: 1, END: 2 } as const;
export const CLOCK = { REALTIME: 0, MONOTONIC: 1, PROCESS_CPUTIME: 2, THREAD_CPUTIME: 3 } as const;
export const FSTFLAGS = { ATIM: 1, ATIM_NOW: 2, MTIM: 4, MTIM_NOW: 8 } as const;
export const EVENTTYPE = { CLOCK: 0, FD_READ: 1, FD_WRITE: 2 } as const;
export const SUBCLOCKFLAGS_ABSTIME = 1;

/** Rights bits. */
export const RIGHT = {
  FD_DATASYNC: 1n << 0n,
  FD_READ: 1n << 1n,
  FD_SEEK: 1n << 2n,
  FD_FDSTAT_SET_FLAGS: 1n << 3n,
  FD_SYNC: 1n << 4n,
  FD_TELL: 1n << 5n,
  FD_WRITE: 1n << 6n,
  FD_ADVISE: 1n << 7n,
  FD_ALLOCATE: 1n << 8n,
  PATH_CREATE_DIRECTORY: 1n << 9n,
  PATH_CREATE_FILE: 1n << 10n,
  PATH_LINK_SOURCE: 1n << 11n,
  PATH_LINK_TARGET: 1n << 12n,
  PATH_OPEN: 1n << 13n,
  FD_READDIR: 1n << 14n,
  PATH_READLINK: 1n << 15n,
  PATH_RENAME_SOURCE: 1n << 16n,
  PATH_RENAME_TARGET: 1n << 17n,
  PATH_FILESTAT_GET: 1n << 18n,
  PATH_FILESTAT_SET_SIZE: 1n << 19n,
  PATH_FILESTAT_SET_TIMES: 1n << 20n,
  FD_FILESTAT_GET: 1n << 21n,
  FD_FILESTAT_SET_SIZE: 1n << 22n,
  FD_FILESTAT_SET_TIMES: 1n << 23n,
  PATH_SYMLINK: 1n << 24n,
  PATH_REMOVE_DIRECTORY: 1n << 25n,
  PATH_UNLINK_FILE: 1n << 26n,
  POLL_FD_READWRITE: 1n << 27n,
} as const;

const R = RIGHT;
/** What a regular file's fd may do. */
export const FILE_RIGHTS =
  R.FD_DATASYNC |
  R.FD_READ |
  R.FD_SEEK |
  R.FD_FDSTAT_SET_FLAGS |
  R.FD_SYNC |
  R.FD_TELL |
  R.FD_WRITE |
  R.FD_ADVISE |
  R.FD_ALLOCATE |
  R.FD_FILESTAT_GET |
  R.FD_FILESTAT_SET_SIZE |
  R.FD_FILESTAT_SET_TIMES |
  R.POLL_FD_READWRITE;
/** What a directory's fd may do. */
export const DIR_RIGHTS =
  R.FD_FDSTAT_SET_FLAGS |
  R.FD_SYNC |
  R.PATH_CREATE_DIRECTORY |
  R.PATH_CREATE_FILE |
  R.PATH_LINK_SOURCE |
  R.PATH_LINK_TARGET |
  R.PATH_OPEN |
  R.FD_READDIR |
  R.PATH_READLINK |
  R.PATH_RENAME_SOURCE |
  R.PATH_RENAME_TARGET |
  R.PATH_FILESTAT_GET |
  R.PATH_FILESTAT_SET_SIZE |
  R.PATH_FILESTAT_SET_TIMES |
  R.FD_FILESTAT_GET |
  R.FD_FILESTAT_SET_TIMES |
  R.PATH_SYMLINK |
  R.PATH_REMOVE_DIRECTORY |
  R.PATH_UNLINK_FILE;
/** The rights that change something: a read-only tree's fds never hold them. */
export const WRITE_RIGHTS =
  R.FD_DATASYNC |
  R.FD_WRITE |
  R.FD_ALLOCATE |
  R.FD_FILESTAT_SET_SIZE |
  R.FD_FILESTAT_SET_TIMES |
  R.PATH_CREATE_DIRECTORY |
  R.PATH_CREATE_FILE |
  R.PATH_LINK_TARGET |
  R.PATH_RENAME_SOURCE |
  R.PATH_RENAME_TARGET |
  R.PATH_FILESTAT_SET_SIZE |
  R.PATH_FILESTAT_SET_TIMES |
  R.PATH_SYMLINK |
  R.PATH_REMOVE_DIRECTORY |
  R.PATH_UNLINK_FILE;
/** The stdio streams: read (fd 0) or write (fds 1 and 2), and their status. */
export const STDIN_RIGHTS = R.FD_READ | R.FD_FILESTAT_GET | R.POLL_FD_READWRITE;
export const STDOUT_RIGHTS = R.FD_WRITE | R.FD_FILESTAT_GET | R.POLL_FD_READWRITE;

/** Struct sizes and field offsets. */
export const FDSTAT_BYTES = 24;
export const FILESTAT_BYTES = 64;
export const PRESTAT_BYTES = 8;
export const DIRENT_BYTES = 24;
export const IOVEC_BYTES = 8;
export const SUBSCRIPTION_BYTES = 48;
export const EVENT_BYTES = 32;
