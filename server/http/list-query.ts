// Query strings of the listings (GET /jobs, GET /modules), checked parameter by parameter so a bad one is a 400 naming it.

import { ServerError } from "../errors.js";
import { JOB_STATES, type JobState } from "../store/records.js";

export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 500;

export interface JobListQuery {
  states?: JobState[];
  limit: number;
  before?: string;
}

const bad = (detail: string): never => {
  throw new ServerError("bad_request", detail);
};

/** `?state=running,paused&limit=50&before=<job id>`; every parameter optional, none other allowed. */
export function parseJobListQuery(params: URLSearchParams): JobListQuery {
  const query: JobListQuery = { ...parsePage(params, ["state"], "the id of a job of yours") };
  const state = params.get("state");
  if (state !== null) {
    const states = state.split(",");
    for (const s of states)
      if (!(JOB_STATES as readonly string[]).includes(s)) bad(`state "${s.slice(0, 40)}" is not one of ${JOB_STATES.join(", ")}`);
    query.states = [...new Set(states)] as JobState[];
  }
  return query;
}

/** `?limit=50&before=<code hash>` for GET /modules. */
export function parseModuleListQuery(params: URLSearchParams): { limit: number; before?: string } {
  return parsePage(params, [], "the code hash of a module you can see");
}

/** limit and before, shared by every listing; `extra` names the listing's other parameters. */
function parsePage(params: URLSearchParams, extra: string[], beforeIs: string): { limit: number; before?: string } {
  const known = [...extra, "limit", "before"];
  for (const key of params.keys()) if (!known.includes(key)) bad(`unknown query parameter "${key}" (known: ${known.join(", ")})`);
  for (const key of known) if (params.getAll(key).length > 1) bad(`query parameter "${key}" given more than once`);
  const page: { limit: number; before?: string } = { limit: DEFAULT_LIST_LIMIT };
  const limit = params.get("limit");
  if (limit !== null) {
    if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIST_LIMIT)
      bad(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
    page.limit = Number(limit);
  }
  const before = params.get("before");
  if (before !== null) {
    if (before === "" || before.length > 128) bad(`before must be ${beforeIs}`);
    page.before = before;
  }
  return page;
}
