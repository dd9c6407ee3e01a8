// The code of the FerryError a call throws or a promise rejects with, or the errno of a Directory's
// FsError; anything else fails the test.
import { FerryError } from "../../runtime/index.js";
import { FsError } from "../../runtime/resources/directory.js";
import { HttpError } from "../../server/client.js";

/**
 * The code and message of the FerryError a call throws or a promise rejects with, for a test that
 * checks the code and that the message names the problem (the option, the import, the limit).
 */
export async function refusal(p: Promise<unknown> | (() => unknown)): Promise<{ code: string; message: string }> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    if (e instanceof FerryError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error("expected a FerryError");
}

export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    if (e instanceof FerryError) return e.code;
    throw e;
  }
  throw new Error("expected a FerryError");
}

/** The POSIX error name of the FsError a Directory or FileHandle call throws; anything else fails the test. */
export function errnoOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof FsError) return e.errno;
    throw e;
  }
  throw new Error("expected an FsError");
}

/** The POSIX error name an asynchronous Directory call rejects with (an AsyncDirectory's FsError). */
export async function rejectedErrno(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FsError) return e.errno;
    throw e;
  }
  throw new Error("expected an FsError");
}

/** The status and code of the HTTP error (a node's `{ error: { code, message } }` answer) a request rejects with. */
export async function httpFailure(p: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HttpError) return { status: e.status, code: e.code };
    throw e;
  }
  throw new Error("expected an HTTP error");
}
