// Fuggetta's table of the resource segment: how a job is bound to a resource (by identifier — this
// exact resource; by value — a resource with this content; by type — any resource of this kind)
// and how the resource is bound to its node (unattached — cheap to move; fastened — movable at a
// cost; fixed — cannot leave) decide what a migration does with it: move it, copy it, leave it and
// reach it from the target by a global reference, or rebind the job to the target's own resource
// of that kind. Each cell has a default and the alternatives a job may ask for instead; anything
// else is refused, so an override can never, say, move a fixed resource.

import { FerryError } from "../errors.js";

export type BindingKind = "identifier" | "value" | "type";
export type Attachment = "unattached" | "fastened" | "fixed";
export type MigrationAction = "move" | "copy" | "global-reference" | "rebind";

export const BINDING_KINDS: readonly BindingKind[] = ["identifier", "value", "type"];
export const ATTACHMENTS: readonly Attachment[] = ["unattached", "fastened", "fixed"];
export const MIGRATION_ACTIONS: readonly MigrationAction[] = ["move", "copy", "global-reference", "rebind"];

/** Each cell: the default first, then what a job may ask for instead (the lecture's parenthesised alternatives). */
const TABLE: Readonly<Record<BindingKind, Readonly<Record<Attachment, readonly MigrationAction[]>>>> = {
  // This exact resource: it goes with the job, or the job reaches back to it.
  identifier: {
    unattached: ["move", "global-reference"],
    fastened: ["global-reference", "move"],
    fixed: ["global-reference"],
  },
  // Its content: a copy does, unless moving the bytes costs more than reaching them.
  value: {
    unattached: ["copy", "move", "global-reference"],
    fastened: ["global-reference", "copy"],
    fixed: ["global-reference"],
  },
  // Any resource of the kind: the target's own, unless the job prefers to keep this one.
  type: {
    unattached: ["rebind", "global-reference", "copy"],
    fastened: ["rebind", "global-reference", "copy"],
    fixed: ["rebind", "global-reference"],
  },
};

/** The actions a migration may take on a resource so bound, the default first. */
export function actionsFor(binding: BindingKind, attachment: Attachment): readonly MigrationAction[] {
  return TABLE[binding][attachment];
}

/**
 * What a migration does with the resource: the cell's default, or `asked` when the cell allows it
 * (invalid_option otherwise, naming what it allows).
 */
export function chooseAction(binding: BindingKind, attachment: Attachment, asked?: MigrationAction): MigrationAction {
  const allowed = actionsFor(binding, attachment);
  if (asked === undefined) return allowed[0]!;
  if (!allowed.includes(asked)) {
    throw new FerryError(
      "invalid_option",
      `a resource bound by ${binding} and ${attachment} cannot be migrated by "${asked}"; it allows ${allowed.map((a) => `"${a}"`).join(", ")}`,
    );
  }
  return asked;
}

/** One resource a job holds, as `ferry inspect` and GET /jobs/:id show it. */
export interface ResourceBinding {
  /** What it is, as the job names it: "stdout", "clock", "/data" (a preopen's guest path). */
  resource: string;
  kind: "input" | "output" | "log" | "clock" | "random" | "directory";
  binding: BindingKind;
  attachment: Attachment;
  /** What a migration does with it (the default, or the job's override). */
  action: MigrationAction;
  /** A directory the job reaches by global reference: the node it stays at. */
  home?: string;
}

/** Parse a binding or attachment or action named by a user (CLI, HTTP); invalid_option names the choices. */
export function parseChoice<T extends string>(what: string, text: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(text)) return text as T;
  throw new FerryError("invalid_option", `${what} must be one of ${choices.map((c) => `"${c}"`).join(", ")}, got "${text}"`);
}
