// The parent's side of an isolated instance's host calls: the trusted end. A request from the child
// is decoded by the rules of the remote call its op names (host/: the registry), then answered by
// that call's interface, which checks it again exactly as the in-process call checks a guest's
// (host/ferry-resources/parent.ts for the resources).

import { HOST_INTERFACES, type HostInterface, type ParentGrant, type RemoteServer } from "../../host/index.js";
import { GuestTrap, TRAP_MESSAGES, type TrapCode } from "../../traps.js";
import { decodeRequest, encodeAnswer, type HostCallAnswer } from "./host-calls.js";

export class HostCallServer {
  /** The parent's end of every interface whose calls cross, for this instance. */
  private readonly servers = new Map<HostInterface, RemoteServer>();

  constructor(grant: ParentGrant) {
    for (const i of HOST_INTERFACES) if (i.remote) this.servers.set(i, i.remote.serve(grant));
  }

  /** Handles still open (for tests and diagnostics). */
  get openHandles(): number {
    let held = 0;
    for (const server of this.servers.values()) held += server.held;
    return held;
  }

  /**
   * Answer one request body. Throws HostCallViolation for a malformed request (the caller kills the
   * child); everything a guest could cause honestly becomes a trap answer, as in-process.
   */
  async serve(body: Uint8Array): Promise<Uint8Array> {
    const { owner, call, request } = decodeRequest(body);
    let answer: HostCallAnswer;
    try {
      answer = { ok: true, ...(await this.servers.get(owner)!.answer(call, request)) };
    } catch (error) {
      answer = trapAnswer(error);
    }
    return encodeAnswer(answer);
  }

  /** The instance is gone: every interface drops what it held for it (nothing uncommitted is kept). */
  abandon(): void {
    for (const server of this.servers.values()) server.abandon();
  }
}

/** What a provider threw, as the trap the in-process host interface would report (classifyTrap). */
function trapAnswer(error: unknown): HostCallAnswer {
  if (error instanceof GuestTrap && Object.hasOwn(TRAP_MESSAGES, error.trap)) return { ok: false, trap: error.trap, detail: error.detail };
  const trap: TrapCode = "host_error";
  return { ok: false, trap, detail: error instanceof Error ? error.message : String(error) };
}
