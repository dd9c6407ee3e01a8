// Example guest with EXPLICIT continuations: renders an ASCII Mandelbrot set one row at a time and
// offers the host a checkpoint after each row. It never needs its stack captured: the next row
// lives in resume_label and the running total in a global, so it can stop by returning.

import { checkpoint, resumeLabel, setResumeLabel, writeOutput } from "../sdk";
export { ferry_continuation } from "../sdk";

const MAX_ITERATIONS: i32 = 200;
// Darkest last. Points that never escape get '@'; the rest step through the ramp every three
// iterations, which shows the boundary's bands (most points escape within a few iterations).
const RAMP = " .:-=+*#%@";

// Survives returns at checkpoints: iterations over all rows finished so far.
let totalIterations: i32 = 0;

/**
 * Renders `height` rows of `width` characters over x in [-2, 1], y in [-1.2, 1.2] (pixel
 * centres), writing "<row>\n" per row. Returns the total iteration count over all pixels, or -1
 * when it stopped at a checkpoint (the host ignores that value and calls again to continue).
 */
export function main(width: i32, height: i32): i32 {
  let row = resumeLabel();
  if (row == 0) totalIterations = 0;
  const line = new Uint8Array(width + 1);
  unchecked((line[width] = 0x0a));
  const w = <f64>width;
  const h = <f64>height;
  for (; row < height; row++) {
    const y0 = 1.2 - (2.4 * (<f64>row + 0.5)) / h;
    for (let col = 0; col < width; col++) {
      const x0 = -2.0 + (3.0 * (<f64>col + 0.5)) / w;
      let zx = 0.0;
      let zy = 0.0;
      let i = 0;
      while (i < MAX_ITERATIONS) {
        const zx2 = zx * zx;
        const zy2 = zy * zy;
        if (zx2 + zy2 > 4.0) break;
        zy = 2.0 * zx * zy + y0;
        zx = zx2 - zy2 + x0;
        i++;
      }
      totalIterations += i;
      const shade = i >= MAX_ITERATIONS ? 9 : min(i / 3, 8);
      unchecked((line[col] = <u8>RAMP.charCodeAt(shade)));
    }
    writeOutput(line);
    // No checkpoint after the last row: there is nothing left to continue.
    if (row + 1 < height && checkpoint(row + 1)) return -1;
  }
  // Finished: the next call starts a fresh picture.
  setResumeLabel(0);
  return totalIterations;
}
