// The target's end of one global reference: every call to the pin goes to its home node as a signed
// POST /peer/resources/:pin, one at a time, numbered. A call is retried with the same number — a
// lost answer is answered again by the home node from its cache, never run twice — until its
// deadline, and then fails as EIO; nothing waits longer than the deadline, whatever the network
// does. After a failed call, or when the channel is new, the next number is asked of the home
// node first (GET /peer/resources/:pin).

import { answerError, type FsRequest, FsError, type RemoteAnswer } from "../../runtime/index.js";
import type { NodeIdentity } from "../auth/index.js";
import { ServerError } from "../errors.js";
import { HttpError } from "../http-fetch.js";
import type { PeerRecord } from "../store/records.js";
import { peerRequestBytes } from "./peer-link.js";
import { decodeResourceAnswer, encodeResourceCall, PEER_RESOURCE_MAX_ANSWER_BYTES } from "./resource-wire.js";

/** How long one call may take, retries included, before it fails as EIO (ms). */
export const DEFAULT_PEER_CALL_DEADLINE_MS = 10_000;
/** How long one attempt of a call may wait for its answer before it is sent again (ms). */
export const DEFAULT_PEER_CALL_ATTEMPT_MS = 3_000;
/** First wait before sending a call again after a failed attempt; doubled up to the maximum (ms). */
const RETRY_FIRST_MS = 20;
const RETRY_MAX_MS = 500;

export interface PinChannelOptions {
  identity: NodeIdentity;
  /** The home node as this node knows it now (read at every attempt: a restarted home announces its new address). */
  home: () => PeerRecord;
  pin: string;
  /** Default DEFAULT_PEER_CALL_DEADLINE_MS. */
  deadlineMs?: number;
  /** Default DEFAULT_PEER_CALL_ATTEMPT_MS (never more than what is left of the deadline). */
  attemptTimeoutMs?: number;
}

/** An answer that ends a call (not retried): the home node refused it, or it cannot be known. */
class Final extends Error {
  constructor(readonly fs: FsError) {
    super(fs.message);
  }
}

/** What an HTTP refusal from the home node means to the guest; undefined: try again. */
function refusal(e: HttpError, where: string): FsError | undefined {
  switch (e.status) {
    case 404:
      return new FsError("EBADF", `${where}: the home node holds no such pin (released?): ${e.message}`);
    case 401:
    case 403:
      return new FsError("EACCES", `${where}: the home node refused the call: ${e.message}`);
    case 400:
    case 413:
      return new FsError("EINVAL", `${where}: the home node could not read the call: ${e.message}`);
    case 429:
    case 503:
      return undefined;
    default:
      return new FsError("EIO", `${where}: the home node failed the call (HTTP ${e.status}): ${e.message}`);
  }
}

export class PinChannel {
  private readonly deadlineMs: number;
  private readonly attemptMs: number;
  /** The number the next call carries; undefined until learnt from the home node. */
  private next: number | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: PinChannelOptions) {
    this.deadlineMs = options.deadlineMs ?? DEFAULT_PEER_CALL_DEADLINE_MS;
    this.attemptMs = options.attemptTimeoutMs ?? DEFAULT_PEER_CALL_ATTEMPT_MS;
    for (const [name, v] of [
      ["deadlineMs", this.deadlineMs],
      ["attemptTimeoutMs", this.attemptMs],
    ] as const)
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`PinChannel ${name} must be a positive integer of ms, got ${v}`);
  }

  private get where(): string {
    let home: string;
    try {
      home = this.options.home().nodeId;
    } catch {
      home = "(no longer a peer)";
    }
    return `pin ${this.options.pin} at home node ${home}`;
  }

  /** One file-system call, after every call made before it has been answered. */
  call(request: FsRequest): Promise<RemoteAnswer> {
    const run = this.tail.then(() => this.send(request));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async send(request: FsRequest): Promise<RemoteAnswer> {
    const end = Date.now() + this.deadlineMs;
    try {
      let answer = await this.numbered(request, end);
      // A number the home node had used already: learn the next one, and send this call once more.
      if (answer === "out_of_order") answer = await this.numbered(request, end);
      if (answer === "out_of_order") throw new Final(new FsError("EIO", `${this.where}: the call's number stays out of order`));
      const failure = answerError(answer);
      if (!failure) return answer;
      throw new Final(failure);
    } catch (e) {
      if (e instanceof Final) throw e.fs;
      // Anything else (an answer that does not decode, say) is the home node failing: the guest sees EIO.
      throw new FsError("EIO", `${this.where}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /**
   * Ask the home node to drop the pin (its open files closed): true when it did, false when it held
   * no such pin; peer_error when it cannot be reached by the deadline. Waits for the calls before it.
   */
  release(): Promise<boolean> {
    const run = this.tail.then(async () => {
      try {
        await this.attempt(Date.now() + this.deadlineMs, (timeoutMs) =>
          peerRequestBytes(this.options.identity, this.options.home(), "POST", `/peer/resources/${this.options.pin}/release`, undefined, {
            timeoutMs,
          }),
        );
        return true;
      } catch (e) {
        if (e instanceof Final && e.fs.errno === "EBADF") return false;
        throw new ServerError("peer_error", e instanceof Error ? e.message : String(e), { cause: e });
      }
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** The call under the next number; "out_of_order" when the home node had moved on (the number is relearnt). */
  private async numbered(request: FsRequest, end: number): Promise<RemoteAnswer | "out_of_order"> {
    this.next ??= (await this.lastSeq(end)) + 1;
    const seq = this.next;
    const body = encodeResourceCall({ seq, request });
    try {
      const answer = await this.attempt(end, (timeoutMs) =>
        peerRequestBytes(this.options.identity, this.options.home(), "POST", `/peer/resources/${this.options.pin}`, body, {
          timeoutMs,
          maxResponseBytes: PEER_RESOURCE_MAX_ANSWER_BYTES,
        }),
      );
      this.next = seq + 1;
      return decodeResourceAnswer(answer);
    } catch (e) {
      this.next = undefined; // whether the call ran is not known here: ask before the next one
      if (!(e instanceof HttpError) || e.code !== "out_of_order") throw e;
      const last = await this.lastSeq(end);
      // The home node claimed this number before: the call may have run, and its answer is gone.
      if (last >= seq) throw new Final(new FsError("EIO", `${this.where}: call ${seq}'s outcome is unknown (${e.message})`));
      this.next = last + 1;
      return "out_of_order";
    }
  }

  /** The last number the home node claimed for the pin. */
  private async lastSeq(end: number): Promise<number> {
    const answer = await this.attempt(end, (timeoutMs) =>
      peerRequestBytes(this.options.identity, this.options.home(), "GET", `/peer/resources/${this.options.pin}`, undefined, { timeoutMs }),
    );
    const { lastSeq } = JSON.parse(answer.toString("utf8")) as { lastSeq?: unknown };
    if (!Number.isSafeInteger(lastSeq) || (lastSeq as number) < 0)
      throw new Final(new FsError("EIO", `${this.where}: a malformed pin description`));
    return lastSeq as number;
  }

  /** `send` again after every failure that may pass (no answer, the home node starting) until `end`; then EIO. */
  private async attempt(end: number, send: (timeoutMs: number) => Promise<Buffer>): Promise<Buffer> {
    let wait = RETRY_FIRST_MS;
    for (;;) {
      const left = end - Date.now();
      if (left <= 0)
        throw new Final(new FsError("EIO", `${this.where}: the home node is unreachable (no answer within ${this.deadlineMs} ms)`));
      try {
        return await withTimeout(send(Math.min(left, this.attemptMs)), Math.min(left, this.attemptMs));
      } catch (e) {
        if (e instanceof HttpError) {
          if (e.code === "out_of_order") throw e;
          const fs = refusal(e, this.where);
          if (fs) throw new Final(fs);
        } else if (e instanceof ServerError) {
          // Not the network: the home node is no longer a peer, its address is refused, its answer too large.
          throw new Final(new FsError("EIO", `${this.where}: ${e.message}`));
        }
      }
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(wait, end - Date.now()))));
      wait = Math.min(wait * 2, RETRY_MAX_MS);
    }
  }
}

/** `p`, or a rejection after `ms`: an attempt never outlives its share of the deadline (a connect that hangs, an answer that trickles). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  p.catch(() => undefined);
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
