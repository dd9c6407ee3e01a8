// The host-interface registry (runtime/host/): what the allow-list, the Asyncify list, the trust
// check and the host-call op numbers derived from it say. Pinned here so that adding an interface
// changes them only where it should.
import { describe, expect, it } from "vitest";
import { CLOSE, OPEN, READ, WRITE } from "../../../runtime/host/ferry-resources/calls.js";
import {
  ALLOWED_IMPORTS,
  ASYNCIFY_IMPORTS,
  CLOCK_IMPORT,
  HOST_INTERFACES,
  importPauses,
  importTrust,
  opOf,
  REMOTE_CALLS,
} from "../../../runtime/host/index.js";

describe("the host-interface registry", () => {
  it("derives the allow-list: the ferry core, the resources, AssemblyScript's env and WASI, with exact signatures", () => {
    expect(Object.keys(ALLOWED_IMPORTS).sort()).toEqual(["env", "ferry", "wasi_snapshot_preview1"]);
    expect(Object.keys(ALLOWED_IMPORTS.wasi_snapshot_preview1!)).toHaveLength(46);
    expect(ALLOWED_IMPORTS.wasi_snapshot_preview1!.path_open).toEqual({
      params: ["i32", "i32", "i32", "i32", "i32", "i64", "i64", "i32", "i32"],
      results: ["i32"],
    });
    expect(ALLOWED_IMPORTS.wasi_snapshot_preview1!.proc_exit).toEqual({ params: ["i32"], results: [] });
    expect(Object.keys(ALLOWED_IMPORTS.ferry!).sort()).toEqual(
      [
        "checkpoint",
        "input_read",
        "input_size",
        "log",
        "output_write",
        "resource_close",
        "resource_open",
        "resource_read",
        "resource_write",
        "yield",
      ].sort(),
    );
    expect(ALLOWED_IMPORTS.ferry!.input_read).toEqual({ params: ["i32", "i32", "i32"], results: ["i32"] });
    expect(ALLOWED_IMPORTS.env!.trace).toEqual({ params: ["i32", "i32", "f64", "f64", "f64", "f64", "f64"], results: [] });
  });

  it("keeps the metering's clock out of the allow-list; yield, WASI's sleep and its yield unwind, and its file calls (they may await)", () => {
    expect(Object.hasOwn(ALLOWED_IMPORTS.ferry!, CLOCK_IMPORT)).toBe(false);
    const pausing = ASYNCIFY_IMPORTS.split(",");
    expect(pausing.slice(0, 1)).toEqual(["ferry.yield"]);
    const wasi = pausing.filter((p) => p.startsWith("wasi_snapshot_preview1.")).map((p) => p.split(".")[1]!);
    expect(wasi).toContain("poll_oneoff");
    expect(wasi).toContain("sched_yield");
    // Every call that reaches a Directory or a FileHandle may await an asynchronous one.
    for (const name of [
      "fd_read",
      "fd_write",
      "fd_pread",
      "fd_pwrite",
      "fd_seek",
      "fd_close",
      "fd_readdir",
      "path_open",
      "path_filestat_get",
    ])
      expect(wasi).toContain(name);
    // The ones that only read the fd table, and everything else, never unwind.
    for (const name of ["fd_prestat_get", "fd_fdstat_get", "fd_tell", "clock_time_get", "random_get", "args_get", "proc_exit"])
      expect(wasi).not.toContain(name);
    expect(pausing.filter((p) => p.startsWith("ferry.") || p.startsWith("env."))).toEqual(["ferry.yield"]);
    for (const p of pausing) expect(importPauses(p.split(".")[0]!, p.split(".")[1]!)).toBe(true);
    expect(importPauses("wasi_snapshot_preview1", "clock_time_get")).toBe(false);
  });

  it("says which imports need authenticated code", () => {
    expect(importTrust("ferry", "resource_open")).toBe("authenticated");
    expect(importTrust("ferry", "log")).toBe("anonymous");
    expect(importTrust("env", "abort")).toBe("anonymous");
    expect(importTrust("ferry", "constructor")).toBeUndefined();
    expect(importTrust("wasi_snapshot_preview1", "fd_write")).toBe("anonymous");
    expect(importTrust("wasi_snapshot_preview1", "sock_open")).toBeUndefined();
  });

  it("numbers the remote calls by their place in the registry: the resource calls are ops 1 to 4, WASI's file system 5", () => {
    expect([opOf(OPEN), opOf(READ), opOf(WRITE), opOf(CLOSE)]).toEqual([1, 2, 3, 4]);
    expect(REMOTE_CALLS.map((r) => r.call.name)).toEqual(["open", "read", "write", "close", "wasi-fs"]);
    expect(() => opOf({ name: "stray", encode: () => ({ a: 0, b: 0, payload: new Uint8Array(0) }), decode: () => undefined })).toThrow();
  });

  it("has one descriptor per id, each naming its module and trust", () => {
    expect(HOST_INTERFACES.map((i) => [i.id, i.module, i.trust])).toEqual([
      ["ferry", "ferry", "anonymous"],
      ["ferry-resources", "ferry", "authenticated"],
      ["assemblyscript", "env", "anonymous"],
      ["wasi", "wasi_snapshot_preview1", "anonymous"],
    ]);
  });
});
