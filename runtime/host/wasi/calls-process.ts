// The WASI calls about the program rather than its files: arguments and environment (exactly what
// the job was given), clocks (the job's virtual monotonic one, the host's real time), randomness,
// exit, yield and sleep (poll_oneoff on clocks pauses the instance instead of blocking a thread).

import { randomFillSync } from "node:crypto";
import { GuestExit } from "../../traps.js";
import { HOST_CALL_FUEL, hostCallFuel } from "../guest-call.js";
import { CLOCK, ERRNO, EVENT_BYTES, EVENTTYPE, SUBCLOCKFLAGS_ABSTIME, SUBSCRIPTION_BYTES } from "./abi.js";
import { hostRealtimeNs } from "./clock.js";
import { type GuestView, utf8Bytes, WasiErrno } from "./guest-view.js";
import type { SessionCall, WasiSession } from "./session.js";

/** Write a list of strings the C way: pointers into one buffer of NUL-terminated strings. */
function writeStrings(view: GuestView, list: readonly string[], ptrs: number, buf: number): void {
  let at = buf >>> 0;
  list.forEach((s, i) => {
    const bytes = utf8Bytes(s);
    view.setU32(ptrs + i * 4, at);
    view.slice(at, bytes.byteLength + 1).set(bytes);
    view.setU8(at + bytes.byteLength, 0);
    at += bytes.byteLength + 1;
  });
}

function writeSizes(view: GuestView, list: readonly string[], countPtr: number, sizePtr: number): void {
  view.setU32(countPtr, list.length);
  view.setU32(
    sizePtr,
    list.reduce((n, s) => n + utf8Bytes(s).byteLength + 1, 0),
  );
}

function clockNow(s: WasiSession, id: number): bigint {
  switch (id) {
    case CLOCK.REALTIME:
      return hostRealtimeNs();
    case CLOCK.MONOTONIC:
    case CLOCK.PROCESS_CPUTIME:
    case CLOCK.THREAD_CPUTIME:
      return s.clock.now();
    default:
      throw new WasiErrno(ERRNO.INVAL, `clock ${id}`);
  }
}

interface Subscription {
  userdata: bigint;
  /** Clock subscriptions: the deadline on the job's monotonic clock. */
  deadline?: bigint;
}

/** The subscriptions of a poll_oneoff: clocks become deadlines; fd ones are always ready (files and streams never block here). */
function readSubscriptions(s: WasiSession, view: GuestView, ptr: number, count: number): { clocks: Subscription[]; ready: Subscription[] } {
  const clocks: Subscription[] = [];
  const ready: Subscription[] = [];
  for (let i = 0; i < count; i++) {
    const at = ptr + i * SUBSCRIPTION_BYTES;
    const userdata = view.u64(at);
    const tag = view.slice(at + 8, 1)[0]!;
    if (tag !== EVENTTYPE.CLOCK) {
      ready.push({ userdata });
      continue;
    }
    const id = view.u32(at + 16);
    const timeout = view.u64(at + 24);
    const absolute = (view.slice(at + 40, 2)[0]! & SUBCLOCKFLAGS_ABSTIME) !== 0;
    const now = s.clock.now();
    // An absolute real-time deadline becomes the same distance on the monotonic clock.
    const wait = absolute ? timeout - clockNow(s, id) : timeout;
    clocks.push({ userdata, deadline: now + (wait > 0n ? wait : 0n) });
  }
  return { clocks, ready };
}

function writeEvents(view: GuestView, out: number, events: Subscription[], type: number, neventsPtr: number): void {
  events.forEach((e, i) => {
    const at = out + i * EVENT_BYTES;
    view.slice(at, EVENT_BYTES).fill(0);
    view.setU64(at, e.userdata);
    view.setU8(at + 10, type);
  });
  view.setU32(neventsPtr, events.length);
}

/** The first deadline among clock subscriptions (bigints: Math.min does not take them). */
function earliest(clocks: Subscription[]): bigint {
  let first = clocks[0]!.deadline!;
  for (const c of clocks) if (c.deadline! < first) first = c.deadline!;
  return first;
}

/** poll_oneoff: fd subscriptions answer at once; otherwise sleep, paused, until the first clock's deadline. */
function pollOneoff(s: WasiSession, inPtr: number, outPtr: number, nsubs: number, neventsPtr: number): number {
  const count = nsubs >>> 0;
  if (count === 0) return ERRNO.INVAL;
  const view = s.view();
  view.slice(inPtr, count * SUBSCRIPTION_BYTES);
  view.slice(outPtr, count * EVENT_BYTES);
  const { clocks, ready } = readSubscriptions(s, view, inPtr, count);
  if (ready.length > 0) {
    s.sleepDeadline = undefined;
    writeEvents(view, outPtr, ready, EVENTTYPE.FD_READ, neventsPtr);
    return ERRNO.SUCCESS;
  }
  // Re-entered after a pause in this very call: the deadline is the one it paused with (a relative
  // timeout read again now would start over).
  const resuming = s.sleepDeadline !== undefined;
  const deadline = s.sleepDeadline ?? earliest(clocks);
  s.sleepDeadline = undefined;
  // Re-entered by the rewind: end it here, whether or not the time has come.
  if (resuming) s.pausing.sleep(0);
  for (;;) {
    const wait = deadline - s.clock.now();
    if (wait <= 0n) break;
    if (s.pausing.sleep(Number((wait + 999_999n) / 1_000_000n))) {
      s.sleepDeadline = deadline;
      return ERRNO.SUCCESS; // unwinding: the guest never sees this value
    }
  }
  const now = s.clock.now();
  writeEvents(
    s.view(),
    outPtr,
    clocks.filter((c) => c.deadline! <= now),
    EVENTTYPE.CLOCK,
    neventsPtr,
  );
  return ERRNO.SUCCESS;
}

export const PROCESS_CALLS: Record<string, SessionCall> = {
  args_sizes_get: (s: WasiSession, count: number, size: number) => writeSizes(s.view(), s.args, count, size),
  args_get: (s: WasiSession, ptrs: number, buf: number) => writeStrings(s.view(), s.args, ptrs, buf),
  environ_sizes_get: (s: WasiSession, count: number, size: number) => writeSizes(s.view(), s.env, count, size),
  environ_get: (s: WasiSession, ptrs: number, buf: number) => writeStrings(s.view(), s.env, ptrs, buf),
  clock_res_get: (s: WasiSession, id: number, out: number) => {
    clockNow(s, id);
    s.view().setU64(out, id === CLOCK.REALTIME ? 1_000_000n : 1n);
  },
  clock_time_get: (s: WasiSession, id: number, _precision: bigint, out: number) => s.view().setU64(out, clockNow(s, id)),
  random_get: (s: WasiSession, buf: number, len: number) => {
    const bytes = s.view().slice(buf, len);
    for (let at = 0; at < bytes.byteLength; at += 65_536) randomFillSync(bytes.subarray(at, at + 65_536));
    s.io.charge(hostCallFuel(bytes.byteLength) - HOST_CALL_FUEL);
  },
  proc_exit: (s: WasiSession, code: number) => {
    s.flushStderr();
    throw new GuestExit(code >>> 0);
  },
  proc_raise: (_s: WasiSession) => ERRNO.NOSYS,
  sched_yield: (s: WasiSession) => {
    s.pausing.yield();
  },
  poll_oneoff: (s: WasiSession, i: number, o: number, n: number, e: number) => pollOneoff(s, i, o, n, e),
};
