// What a guest reads and writes through the host: its input, its output (kept whole, carried across
// migrations, capped by maxOutputBytes) and its log lines (capped by maxLogBytes, handed to onLog as
// written, not carried). Past a cap the call traps `output_limit`.

import { GuestTrap } from "../traps.js";
import type { GuestIo } from "../host/index.js";
import { OutputBuffer } from "./output-buffer.js";

export class GuestStreams {
  readonly output = new OutputBuffer();
  readonly logLines: string[] = [];
  private logBytes = 0;

  constructor(
    public input: Uint8Array,
    private readonly maxOutputBytes: number,
    private readonly maxLogBytes: number,
    private readonly onLog: ((line: string) => void) | undefined,
  ) {}

  /** Past the limit, the output keeps what fits (so it does not depend on how the writes were cut) and the run traps. */
  writeOutput(bytes: Uint8Array): void {
    const room = this.maxOutputBytes - this.output.byteLength;
    if (bytes.byteLength > room) {
      this.output.append(bytes.subarray(0, Math.max(0, room)));
      throw new GuestTrap("output_limit", `output would exceed ${this.maxOutputBytes} bytes`);
    }
    this.output.append(bytes);
  }

  writeLog(line: string): void {
    this.logBytes += line.length + 1;
    if (this.logBytes > this.maxLogBytes) throw new GuestTrap("output_limit", `log would exceed ${this.maxLogBytes} bytes`);
    this.logLines.push(line);
    this.onLog?.(line);
  }

  /** The hooks host calls reach the instance through (runtime/host/ferry/core.ts); `afterLog` may end the run (onLog disposed it). */
  hostIo(hooks: Pick<GuestIo, "memory" | "charge" | "afterCall" | "seed"> & { afterLog(): void }): GuestIo {
    const self = this;
    return {
      memory: hooks.memory,
      get input() {
        return self.input;
      },
      writeOutput: (bytes) => self.writeOutput(bytes),
      writeLog: (line) => {
        self.writeLog(line);
        hooks.afterLog();
      },
      charge: hooks.charge,
      afterCall: hooks.afterCall,
      seed: hooks.seed,
    };
  }
}
