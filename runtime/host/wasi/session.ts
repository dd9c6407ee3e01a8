// One WASI program's state on one instance: its arguments and environment, its descriptor table
// over the preopened trees, its virtual clock, a sleep it is paused in, and the stderr line it has
// not ended yet. It is the instance's SegmentPart: captured into snapshots, restored from them.
// The calls (calls-*.ts) read and change it; nothing here knows guest memory layouts.

import type { Directory, FileHandle } from "../../resources/directory.js";
import { keepShape } from "../../shape-anchor.js";
import type { GuestIo, Pausing, SegmentPart, WasiConfig, WasiPreopen } from "../interface.js";
import { DIR_RIGHTS, ERRNO, FILE_RIGHTS, STDIN_RIGHTS, STDOUT_RIGHTS, WRITE_RIGHTS } from "./abi.js";
import { VirtualClock } from "./clock.js";
import { type FdEntry, FdTable } from "./fd-table.js";
import { GuestView, WasiErrno } from "./guest-view.js";
import { captureFd, readFd, readImage, WASI_IMAGE_VERSION, type WasiImage } from "./image.js";

/** A stderr line longer than this is cut into several log lines. */
const MAX_STDERR_LINE = 16 * 1024;

const NO_CONFIG: WasiConfig = { args: [], env: [], preopens: [] };

/** A WASI function as the call tables hold it: the session first, then the guest's arguments. */
export type SessionCall = (s: WasiSession, ...args: never[]) => number | void;

export class WasiSession implements SegmentPart {
  readonly args: string[];
  readonly env: string[];
  readonly preopens: readonly WasiPreopen[];
  readonly table = new FdTable();
  readonly clock = new VirtualClock();
  /** The deadline of the sleep the program is paused in (poll_oneoff), on the job's clock. */
  sleepDeadline: bigint | undefined;
  private stderrLine = "";

  constructor(
    readonly io: GuestIo,
    readonly pausing: Pausing,
    config: WasiConfig = NO_CONFIG,
  ) {
    this.args = [...config.args];
    this.env = [...config.env];
    this.preopens = config.preopens;
    this.openStandardFds();
  }

  private openStandardFds(): void {
    const stream = (kind: FdEntry["kind"], rights: bigint): FdEntry => ({
      kind,
      tree: -1,
      path: "",
      offset: 0,
      rights,
      inheriting: 0n,
      fdflags: 0,
      write: kind !== "stdin",
    });
    this.table.set(0, stream("stdin", STDIN_RIGHTS));
    this.table.set(1, stream("stdout", STDOUT_RIGHTS));
    this.table.set(2, stream("stderr", STDOUT_RIGHTS));
    this.preopens.forEach((p, tree) => {
      const rights = p.directory.readOnly ? DIR_RIGHTS & ~WRITE_RIGHTS : DIR_RIGHTS;
      const inheriting = p.directory.readOnly ? (DIR_RIGHTS | FILE_RIGHTS) & ~WRITE_RIGHTS : DIR_RIGHTS | FILE_RIGHTS;
      this.table.set(3 + tree, {
        kind: "directory",
        tree,
        path: "",
        offset: 0,
        rights,
        inheriting,
        fdflags: 0,
        write: false,
        preopen: p.guestPath,
      });
    });
  }

  /** The guest's memory as the calls read it (one view per memory buffer: a grow makes a new one). */
  view(): GuestView {
    const bytes = this.io.memory();
    if (this.memoryView?.bytes !== bytes) this.memoryView = new GuestView(bytes);
    return this.memoryView;
  }
  private memoryView: GuestView | undefined;

  /** The entry behind `fd`, which must hold every right in `needs` (ENOTCAPABLE otherwise). */
  fd(fd: number, needs = 0n): FdEntry {
    const entry = this.table.get(fd);
    if ((entry.rights & needs) !== needs) throw new WasiErrno(ERRNO.NOTCAPABLE, `fd ${fd} lacks a right the call needs`);
    return entry;
  }

  /** A directory entry's tree. */
  dir(entry: FdEntry): Directory {
    if (entry.kind !== "directory") throw new WasiErrno(ERRNO.NOTDIR, "not a directory");
    return this.preopens[entry.tree]!.directory;
  }

  /** The open host file behind a file entry, reopened by its path after a restore. */
  file(entry: FdEntry): FileHandle {
    if (entry.kind === "directory") throw new WasiErrno(ERRNO.ISDIR, "a directory");
    if (entry.kind !== "file") throw new WasiErrno(ERRNO.SPIPE, "a stream");
    entry.handle ??= this.preopens[entry.tree]!.directory.openFile(entry.path, { write: entry.write });
    return entry.handle;
  }

  /** stderr: bytes become log lines, one per newline (a longer line is cut). */
  writeStderr(text: string): void {
    let rest = this.stderrLine + text;
    for (let nl = rest.indexOf("\n"); nl >= 0; nl = rest.indexOf("\n")) {
      this.io.writeLog(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
    while (rest.length > MAX_STDERR_LINE) {
      this.io.writeLog(rest.slice(0, MAX_STDERR_LINE));
      rest = rest.slice(MAX_STDERR_LINE);
    }
    this.stderrLine = rest;
  }

  /** The program ends: a last stderr line without its newline is still a line. */
  flushStderr(): void {
    if (this.stderrLine === "") return;
    const line = this.stderrLine;
    this.stderrLine = "";
    this.io.writeLog(line);
  }

  settle(): void {
    for (const p of this.preopens) p.directory.settle?.();
  }

  capture(): WasiImage {
    this.settle();
    const image: WasiImage = {
      version: WASI_IMAGE_VERSION,
      args: this.args,
      env: this.env,
      monotonicNs: this.clock.now().toString(),
      stderrLine: this.stderrLine,
      fds: [...this.table.entries].map(([fd, e]) => captureFd(fd, e, (i) => this.preopens[i]!.guestPath)),
    };
    if (this.sleepDeadline !== undefined) image.sleepDeadlineNs = this.sleepDeadline.toString();
    return image;
  }

  restore(raw: unknown): void {
    const image = readImage(raw);
    const byName = new Map(this.preopens.map((p, i) => [p.guestPath, i]));
    const fds = image.fds.map((f) => readFd(f, (name) => byName.get(name)));
    this.table.closeAll();
    this.table.entries.clear();
    for (const { fd, entry } of fds) {
      // A tree restored read-only keeps no write rights, whatever the image says.
      if (entry.tree >= 0 && this.preopens[entry.tree]!.directory.readOnly) {
        entry.rights &= ~WRITE_RIGHTS;
        entry.inheriting &= ~WRITE_RIGHTS;
        entry.write = false;
      }
      this.table.set(fd, entry);
    }
    this.args.splice(0, this.args.length, ...image.args);
    this.env.splice(0, this.env.length, ...image.env);
    this.clock.continueFrom(image.clock);
    this.sleepDeadline = image.sleepDeadline;
    this.stderrLine = image.stderrLine;
  }

  dispose(): void {
    this.table.closeAll();
  }
}

// A session, its descriptor table (the standard streams' entries) and a view of memory, kept so
// their hidden classes outlive every job (shape-anchor.ts).
const SAMPLE_IO: GuestIo = {
  memory: () => new Uint8Array(0),
  charge: () => {},
  afterCall: () => {},
  input: new Uint8Array(0),
  writeOutput: () => {},
  writeLog: () => {},
  seed: 0,
};
/** The kept sample session (the call bindings' sample refers to it). */
export const SAMPLE_SESSION = keepShape(
  new WasiSession(SAMPLE_IO, { yield: () => {}, checkpoint: () => 0, sleep: () => false, settle: () => undefined as never }),
);
SAMPLE_SESSION.view();
