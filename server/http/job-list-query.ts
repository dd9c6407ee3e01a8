// GET /jobs query strings, checked parameter by parameter so a bad one is a 400 naming it.

import { ServerError } from "../errors.js";
import { JOB_STATES, type JobState } from "../store/records.js";

export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 500;

export interface JobListQuery {
  states?: JobState[];
  limit: number;
  before?: string;
}

/** `?state=running,paused&limit=50&before=<job id>`; every parameter optional, none other allowed. */
export function parseJobListQuery(params: URLSearchParams): JobListQuery {
  const bad = (detail: string): never => {
    throw new ServerError("bad_request", detail);
  };
  for (const key of params.keys()) if (!["state", "limit", "before"].includes(key)) bad(`unknown query parameter "${key}" (known: state, limit, before)`);
  for (const key of ["state", "limit", "before"]) if (params.getAll(key).length > 1) bad(`query parameter "${key}" given more than once`);
  const query: JobListQuery = { limit: DEFAULT_LIST_LIMIT };
  const state = params.get("state");
  if (state !== null) {
    const states = state.split(",");
    for (const s of states) if (!(JOB_STATES as readonly string[]).includes(s)) bad(`state "${s.slice(0, 40)}" is not one of ${JOB_STATES.join(", ")}`);
    query.states = [...new Set(states)] as JobState[];
  }
  const limit = params.get("limit");
  if (limit !== null) {
    if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIST_LIMIT) bad(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
    query.limit = Number(limit);
  }
  const before = params.get("before");
  if (before !== null) {
    if (before === "" || before.length > 128) bad("before must be the id of a job of yours");
    query.before = before;
  }
  return query;
}
