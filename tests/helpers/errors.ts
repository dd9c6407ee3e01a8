// The code of the FerryError a call throws or a promise rejects with; anything else fails the test.
import { FerryError } from "../../runtime/index.js";

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
