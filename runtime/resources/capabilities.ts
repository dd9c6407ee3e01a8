// Capabilities: which host resources an authenticated guest may bind, and how. Parsed and
// validated once, up front; every resource call checks against the parsed set.

import { FerryError } from "../errors.js";

export type Access = "read" | "write";

/** `name` is an exact resource name, or a prefix ending in `*` ("reports/*"). */
export interface Capability {
  resource: string;
  access: readonly Access[];
}

const NAME = /^(?:[A-Za-z0-9._\-/]{1,200}\*?|\*)$/;

/** "reports/*:rw", "config.json:r": a resource pattern, a colon, then r, w or rw. */
export function parseCapability(text: string): Capability {
  const at = text.lastIndexOf(":");
  const resource = at > 0 ? text.slice(0, at) : "";
  const mode = at > 0 ? text.slice(at + 1) : "";
  if (!NAME.test(resource) || !["r", "w", "rw"].includes(mode)) {
    throw new FerryError(
      "invalid_option",
      `capability "${text}" must be <resource>:<r|w|rw>, the resource made of letters, digits, . _ - / and an optional trailing * (or just * for everything)`,
    );
  }
  const access: Access[] = [];
  if (mode.includes("r")) access.push("read");
  if (mode.includes("w")) access.push("write");
  return { resource, access };
}

export function formatCapability(c: Capability): string {
  return `${c.resource}:${c.access.includes("read") ? "r" : ""}${c.access.includes("write") ? "w" : ""}`;
}

export class CapabilitySet {
  private readonly grants: readonly Capability[];

  constructor(grants: ReadonlyArray<Capability | string>) {
    this.grants = grants.map((g) => (typeof g === "string" ? parseCapability(g) : parseCapability(formatCapability(g))));
  }

  get size(): number {
    return this.grants.length;
  }

  /** Whether some grant covers `name` with every access asked for. */
  allows(name: string, access: readonly Access[]): boolean {
    return this.grants.some((g) => matches(g.resource, name) && access.every((a) => g.access.includes(a)));
  }

  toStrings(): string[] {
    return this.grants.map(formatCapability);
  }
}

function matches(pattern: string, name: string): boolean {
  // No path tricks: ".." segments never match a prefix grant ("reports/../secrets").
  if (name.split("/").includes("..")) return false;
  return pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}
