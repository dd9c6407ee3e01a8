// The child's end of the host-call channel: a remote call becomes one blocking request to the parent
// (host/interface.ts RemoteAsk), and a trap answer the GuestTrap the in-process call would throw.
// What to ask is each interface's business (host/ferry-resources/child.ts for the resources).

import type { RemoteAsk, RemoteAskAsync, RemoteCall } from "../../host/index.js";
import { GuestTrap } from "../../traps.js";
import { decodeAnswer, encodeRequest } from "./host-calls.js";

/** Send a request body and block until the answer body arrives. */
export type HostCall = (body: Uint8Array) => Uint8Array;

export function remoteAsk(call: HostCall): RemoteAsk {
  return <R>(remote: RemoteCall<R>, request: R) => {
    const answer = decodeAnswer(call(encodeRequest(remote, request)));
    if (!answer.ok) throw new GuestTrap(answer.trap, answer.detail);
    return answer;
  };
}

/** Send a request body and await its answer body (the event loop stays free). */
export type AsyncHostCall = (body: Uint8Array) => Promise<Uint8Array>;

/** The awaited twin of remoteAsk: an asynchronous directory's calls (wasi/async-remote-directory.ts). */
export function remoteAskAsync(call: AsyncHostCall): RemoteAskAsync {
  return async <R>(remote: RemoteCall<R>, request: R) => {
    const answer = decodeAnswer(await call(encodeRequest(remote, request)));
    if (!answer.ok) throw new GuestTrap(answer.trap, answer.detail);
    return answer;
  };
}
