// The JSON wast2json writes for a .wast script (wabt's spec-test format): one command per
// top-level form, modules as separate .wasm (or .wat, for text-format cases) files beside it.

import type { SpecValue } from "./values.js";

export interface Action {
  type: "invoke" | "get";
  /** A named module ($M); otherwise the last module defined. */
  module?: string;
  field: string;
  args?: SpecValue[];
}

export interface Command {
  type: string;
  line: number;
  /** module, assert_invalid, assert_malformed, assert_unlinkable, assert_uninstantiable: the module file. */
  filename?: string;
  /** module: its $name; register: which module to register (default the last). */
  name?: string;
  /** register: the import module name it is registered as. */
  as?: string;
  module_type?: "binary" | "text";
  action?: Action;
  /** assert_return: the values; assert_trap, assert_exhaustion, action: the result types only. */
  expected?: SpecValue[];
  /** The expected trap or error message. */
  text?: string;
}

export interface Script {
  source_filename: string;
  commands: Command[];
}

/** Commands that run a function and check what it did. */
export const RUN_COMMANDS = new Set(["assert_return", "assert_trap", "assert_exhaustion", "action"]);
/** Commands that expect a module to be refused. */
export const REFUSAL_COMMANDS = new Set(["assert_invalid", "assert_malformed", "assert_unlinkable", "assert_uninstantiable"]);
