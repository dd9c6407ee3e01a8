// Diagnostics for the security tests: ask the child hosting an isolated instance what Node's
// permission model lets it do, and have it try. Not exported from the package; guests cannot
// reach it (they have no way to send the child messages).

import { FerryError } from "../../errors.js";
import type { Instance } from "../../exec/instance-api.js";
import { IsolatedInstance, sandboxChildOf } from "./isolated-instance.js";
import type { HostCallFault } from "./host-calls.js";
import type { ProbeReport } from "./protocol.js";

/** `scratchPath`: a file the child tries to create (it must not exist afterwards). */
export async function probeIsolation(instance: Instance, scratchPath: string): Promise<ProbeReport> {
  if (!(instance instanceof IsolatedInstance)) throw new FerryError("invalid_option", "probeIsolation takes an isolated instance");
  if (instance.state === "running") throw new FerryError("instance_busy");
  const reply = await sandboxChildOf(instance).request({ type: "probe", scratchPath });
  if (!reply.ok || !reply.probe) throw new Error(`probe failed: ${reply.ok ? "no report" : reply.error.message}`);
  return reply.probe;
}

/**
 * Tests only: make the child hosting `instance` break the host-call protocol on its next resource
 * call, as a subverted child would (a garbled frame, or one declaring a huge length).
 */
export async function injectHostCallFault(instance: Instance, fault: HostCallFault): Promise<void> {
  if (!(instance instanceof IsolatedInstance)) throw new FerryError("invalid_option", "injectHostCallFault takes an isolated instance");
  const reply = await sandboxChildOf(instance).request({ type: "fault", hostCall: fault });
  if (!reply.ok) throw new Error(`fault injection failed: ${reply.error.message}`);
}

/** Why the child hosting `instance` was killed for breaking the host-call protocol, if it was. */
export function hostCallViolation(instance: Instance): string | undefined {
  return instance instanceof IsolatedInstance ? sandboxChildOf(instance).violation : undefined;
}
