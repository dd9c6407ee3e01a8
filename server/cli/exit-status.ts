// The exit statuses of every `ferry` command: one table, printed by `ferry --help`, every command's
// --help and the README (failure.ts maps each failure to one of them).

export const EXIT = {
  /** The command did what it was asked; a guest or job it ran or waited for completed. */
  ok: 0,
  /** The guest trapped, or the job waited for ended trapped, failed or cancelled. */
  failed: 1,
  /** Bad command line: nothing was done. */
  usage: 2,
  /** The input or the request was refused: nothing was stored. */
  rejected: 3,
  /** A bug, a damaged store, or a node's own failure (HTTP 500). */
  internal: 4,
  /** Something the command needs is busy or out of reach; the same command may work later. */
  unavailable: 5,
} as const;

export const EXIT_STATUS_TABLE = `Exit status (the same for every command):
  0  done: the command did what it was asked (a guest or a waited-for job completed)
  1  the guest trapped, or the job waited for (--wait, logs --follow) ended trapped, failed
     or cancelled
  2  bad command line: unknown command or option, a malformed value, or a file or directory
     named on it that cannot be read, written or used; nothing was done
  3  rejected: a module, snapshot, argument or key that cannot be used, or a request the
     node refused (HTTP 4xx); nothing was stored
  4  internal error: a bug, a damaged data directory, or the node failed (HTTP 500)
  5  unavailable: the data directory is owned by another process, the address is in use,
     the node cannot be reached or is too busy (HTTP 503), or a node's store cannot load
     better-sqlite3 (store_unavailable: install it); try again later or elsewhere`;
