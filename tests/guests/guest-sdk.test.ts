// The AssemblyScript SDK's host calls, end to end: a probe guest compiled here from inline source
// calls every SDK function, and a minimal host written here checks what crosses the boundary.

import asc from "assemblyscript/asc";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { findRepoRoot } from "../../guest/catalog.js";

const PROBE_SOURCE = `
import {
  checkpoint, inputSize, log, readInput, readInputString, resumeLabel, safepoint, setResumeLabel,
  stackCapacity, writeOutput, writeString,
} from "../../guest/sdk";
export { ferry_continuation } from "../../guest/sdk";

export function logHello(): void { log("h\\u00e9llo \\u2713"); }
export function yieldTimes(n: i32): void { for (let i = 0; i < n; i++) safepoint(); }
export function echoInput(): i32 { writeOutput(readInput()); return inputSize(); }
export function echoInputString(): i32 { const s = readInputString(); writeString(s); return s.length; }
export function tryCheckpoint(label: i32): i32 { return checkpoint(label) ? 1 : 0; }
export function label(): i32 { return resumeLabel(); }
export function setLabel(label: i32): void { setResumeLabel(label); }
export function capacity(): i32 { return stackCapacity(); }
`;

let probe: WebAssembly.Module;

beforeAll(async () => {
  const root = findRepoRoot();
  const dir = join(root, "build", "sdk-probe");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "probe.ts"), PROBE_SOURCE);
  let wasm: Uint8Array | undefined;
  const stderr = asc.createMemoryStream();
  const result = await asc.main(["build/sdk-probe/probe.ts", "--config", "asconfig.json", "--baseDir", root, "--outFile", "probe.wasm"], {
    stdout: asc.createMemoryStream(),
    stderr,
    writeFile(filename: string, contents: Uint8Array | string, baseDir: string) {
      if (resolve(baseDir, filename).endsWith("probe.wasm") && contents instanceof Uint8Array) wasm = contents;
    },
  });
  if (result.error || !wasm) throw new Error(`probe failed to compile: ${String(result.error)}\n${stderr.toString()}`);
  probe = new WebAssembly.Module(new Uint8Array(wasm)); // copy: a Uint8Array<ArrayBuffer> for the typings
});

interface Probe {
  exports: Record<string, (...args: number[]) => number>;
  memory: WebAssembly.Memory;
  continuation: number;
  logs: string[];
  output: () => Buffer;
  yields: () => number;
  inputReads: () => number;
}

interface ProbeOptions {
  input?: Uint8Array;
  /** What input_size answers, if not the input's length (a host whose input_read ends early). */
  reportedSize?: number;
  checkpointReply?: number;
  readChunkBytes?: number;
}

function instantiate(opts: ProbeOptions = {}): Probe {
  const input = opts.input ?? new Uint8Array(0);
  let memory: WebAssembly.Memory | undefined;
  const logs: string[] = [];
  const chunks: Uint8Array[] = [];
  let yields = 0;
  let inputReads = 0;
  const buffer = (): ArrayBuffer => memory!.buffer;
  const instance = new WebAssembly.Instance(probe, {
    env: {
      abort(): never {
        throw new Error("guest abort");
      },
    },
    ferry: {
      yield(): void {
        yields++;
      },
      checkpoint: (): number => opts.checkpointReply ?? 0,
      log(ptr: number, len: number): void {
        logs.push(Buffer.from(buffer(), ptr, len).toString("utf8"));
      },
      input_size: (): number => opts.reportedSize ?? input.length,
      input_read(dst: number, offset: number, len: number): number {
        inputReads++;
        const n = Math.max(0, Math.min(len, opts.readChunkBytes ?? len, input.length - offset));
        new Uint8Array(buffer(), dst, n).set(input.subarray(offset, offset + n));
        return n;
      },
      output_write(src: number, len: number): void {
        chunks.push(new Uint8Array(buffer(), src, len).slice());
      },
    },
  });
  memory = instance.exports.memory as WebAssembly.Memory;
  return {
    exports: instance.exports as unknown as Probe["exports"],
    memory,
    continuation: (instance.exports.ferry_continuation as WebAssembly.Global).value as number,
    logs,
    output: () => Buffer.concat(chunks),
    yields: () => yields,
    inputReads: () => inputReads,
  };
}

const resumeLabelOf = (p: Probe): number => new DataView(p.memory.buffer).getInt32(p.continuation + 12, true);

describe("guest SDK", () => {
  it("log sends one UTF-8 line", () => {
    const p = instantiate();
    p.exports.logHello!();
    expect(p.logs).toEqual(["héllo ✓"]);
  });

  it("safepoint calls ferry.yield once per call", () => {
    const p = instantiate();
    p.exports.yieldTimes!(7);
    expect(p.yields()).toBe(7);
  });

  it("readInput collects the whole input across short reads", () => {
    const input = new Uint8Array(10_000).map((_, i) => (i * 31) & 0xff);
    const p = instantiate({ input, readChunkBytes: 777 });
    expect(p.exports.echoInput!()).toBe(input.length);
    expect(p.output().equals(Buffer.from(input))).toBe(true);
    expect(p.inputReads()).toBe(Math.ceil(input.length / 777));
  });

  it("readInput stops when input_read returns 0 and exposes only the bytes it read", () => {
    const p = instantiate({ input: new Uint8Array(600).fill(7), reportedSize: 1000, readChunkBytes: 256 });
    expect(p.exports.echoInput!()).toBe(1000);
    expect(p.output().equals(Buffer.alloc(600, 7))).toBe(true);
  });

  it("readInputString and writeString round-trip UTF-8", () => {
    const text = "Grüße, 世界! 🚀 ferry";
    const p = instantiate({ input: new TextEncoder().encode(text), readChunkBytes: 5 });
    expect(p.exports.echoInputString!()).toBe(text.length); // UTF-16 code units
    expect(p.output().toString("utf8")).toBe(text);
  });

  it("checkpoint returns true and records the label only when the host asks to stop", () => {
    const go = instantiate({ checkpointReply: 0 });
    expect(go.exports.tryCheckpoint!(5)).toBe(0);
    expect(resumeLabelOf(go)).toBe(0);

    const stop = instantiate({ checkpointReply: 1 });
    expect(stop.exports.tryCheckpoint!(5)).toBe(1);
    expect(resumeLabelOf(stop)).toBe(5);
    expect(stop.exports.label!()).toBe(5);
    stop.exports.setLabel!(0);
    expect(resumeLabelOf(stop)).toBe(0);
  });

  it("resumeLabel reads what the host wrote at offset 12", () => {
    const p = instantiate();
    new DataView(p.memory.buffer).setInt32(p.continuation + 12, 42, true);
    expect(p.exports.label!()).toBe(42);
  });

  it("stackCapacity reports the 64 KiB buffer recorded in the header", () => {
    expect(instantiate().exports.capacity!()).toBe(64 * 1024);
  });
});
