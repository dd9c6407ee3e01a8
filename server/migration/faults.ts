// Named points in the migration protocol where tests inject failures: a hook may throw (the message
// is lost) or end the process (the node crashes there). Production nodes have no hook.

export const TRANSFER_STEPS = [
  /** Source, before PREPARE is sent: the request never leaves. */
  "source:before-prepare",
  /** Source, PREPARE acknowledged, before the decision is recorded. */
  "source:after-prepare",
  /** Source, decision recorded, before COMMIT is sent. */
  "source:after-decision",
  /** Target, PREPARE stored, before it answers: the answer is lost. */
  "target:after-prepare",
  /** Target, COMMIT received, before it is applied. */
  "target:before-commit",
  /** Target, COMMIT applied, before it answers. */
  "target:after-commit",
] as const;

export type TransferStep = (typeof TRANSFER_STEPS)[number];

export type FaultHook = (step: TransferStep, jobId: string) => void | Promise<void>;

/** A hook that ends the process with SIGKILL at `step` (crash tests run nodes as child processes). */
export function crashAt(step: string): FaultHook {
  if (!(TRANSFER_STEPS as readonly string[]).includes(step))
    throw new Error(`unknown transfer step "${step}"; one of ${TRANSFER_STEPS.join(", ")}`);
  return (at) => {
    if (at === step) process.kill(process.pid, "SIGKILL");
  };
}
