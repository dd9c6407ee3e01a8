// The code of the FerryError a call throws or a promise rejects with; anything else fails the test.
import { FerryError } from "../../runtime/index.js";

export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    if (e instanceof FerryError) return e.code;
    throw e;
  }
  throw new Error("expected a FerryError");
}
