// One lost message of the migration protocol, for nodes given `hook` as their fault hook
// (server/migration/faults.ts): `arm(step, jobId)` makes that step of that job fail once; `fired`
// says whether it has (the step was reached).
import type { TransferStep } from "../../server/migration/faults.js";

export interface LostMessage {
  hook: (step: TransferStep, jobId: string) => void;
  arm(step: TransferStep, jobId: string): void;
  fired(): boolean;
}

export function lostMessage(): LostMessage {
  let armed: { step: TransferStep; jobId: string } | undefined;
  return {
    hook: (step, jobId) => {
      if (armed?.step !== step || armed.jobId !== jobId) return;
      armed = undefined;
      throw new Error(`injected: the message at ${step} is lost`);
    },
    arm: (step, jobId) => void (armed = { step, jobId }),
    fired: () => armed === undefined,
  };
}
