// Resource names as FileResources takes them: relative paths of the capability grammar's characters,
// no empty, `.` or `..` segment, never a temp file's prefix; and the one containment test every
// path under the root passes (after realpath) before it is read or written.

import { sep } from "node:path";
import { GuestTrap } from "../traps.js";
import { TEMP_PREFIX } from "./root-ledger.js";

/** Names are paths of these characters only (the capability grammar's), segments never `.`/`..`. */
const SEGMENT = /^[A-Za-z0-9._-]{1,255}$/;
const MAX_NAME_BYTES = 1024;

/** The name's path segments, or a host_error trap for anything that is not a plain relative path. */
export function checkName(name: string): string[] {
  const bad = (why: string): never => {
    throw new GuestTrap("host_error", `resource name ${JSON.stringify(name.slice(0, 80))} ${why}`);
  };
  if (typeof name !== "string" || name === "") bad("is empty");
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) bad(`is longer than ${MAX_NAME_BYTES} bytes`);
  if (name.includes("\0")) bad("contains a NUL byte");
  if (name.startsWith("/") || name.includes("\\")) bad("must be a relative path with / separators");
  const segments = name.split("/");
  for (const s of segments) {
    if (s === "" || s === "." || s === "..") bad("has an empty, . or .. segment");
    if (!SEGMENT.test(s)) bad("may contain only letters, digits, . _ - and /");
    if (s.startsWith(TEMP_PREFIX)) bad(`may not start a segment with ${TEMP_PREFIX}`);
  }
  return segments;
}

export function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}
