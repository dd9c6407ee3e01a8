// The worker thread behind page-hash-pool.ts: sha256 of each 64 KiB page of a piece the pool copied
// into shared memory, the digests sent back in one transferred buffer. Nothing else: no state
// between pieces, so a worker can take any piece in any order.

import { createHash } from "node:crypto";
import { parentPort } from "node:worker_threads";

export interface PageHashPiece {
  id: number;
  /** `pages` whole pages of 65536 bytes, back to back from offset 0. */
  shared: SharedArrayBuffer;
  pages: number;
}

export interface PageHashAnswer {
  id: number;
  /** 32 bytes per page, in order. */
  digests: Uint8Array;
}

const PAGE = 65_536;
const DIGEST = 32;

parentPort?.on("message", (piece: PageHashPiece) => {
  const digests = new Uint8Array(piece.pages * DIGEST);
  for (let i = 0; i < piece.pages; i++) {
    digests.set(
      createHash("sha256")
        .update(new Uint8Array(piece.shared, i * PAGE, PAGE))
        .digest(),
      i * DIGEST,
    );
  }
  const answer: PageHashAnswer = { id: piece.id, digests };
  parentPort!.postMessage(answer, [digests.buffer]);
});
