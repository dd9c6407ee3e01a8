// The typed HTTP client of a Ferry node, published as `ferry/client` (README, "HTTP client"): every
// endpoint a client calls (not the node-to-node /peer routes), requests signed with a client key when
// it has one (anonymous otherwise), and every non-2xx answer thrown as an HttpError carrying the
// node's error code. The `ferry` CLI, the tests and the benches use it; there is no other client.

import { MAX_GRANT_LIFETIME_MS, signGrant, signRequest } from "./auth/index.js";
// From keys.ts, not auth/index: ferry/client's published types must not reach the store's (better-sqlite3's).
import type { SigningKey } from "./auth/keys.js";
import { jobEvents, type JobStreamEvent } from "./client-events.js";
import { ServerError, SERVER_ERROR_MESSAGES, type ServerErrorCode } from "./errors.js";
import { httpError, httpFetch, HttpError } from "./http-fetch.js";
import type { SandboxKind } from "../runtime/index.js";
import type { JobResult, JobSummary, JobView, ModuleSummary, MovedTo } from "./node/job-view.js";
import type { PeerEntry } from "./peers/peers-file.js";
import type { JobWasi } from "./store/records.js";

export type { JobResult, JobStreamEvent, JobSummary, JobView, ModuleSummary, MovedTo, PeerEntry };
/** Key files as `ferry keygen` writes them: `new FerryClient({ url, key: readKeyFile("me.key.json") })`. */
export { generateSigningKey, readKeyFile, writeKeyFile, type SigningKey } from "./auth/keys.js";
/** Non-2xx answers (server/http-fetch.ts, shared with the node's own peer requests). */
export { HttpError, httpError, isHttpError, type HttpErrorCode } from "./http-fetch.js";

export interface FerryClientOptions {
  /** Base URL of the node, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Sign every request with this key; omit for anonymous requests. */
  key?: Pick<SigningKey, "clientId" | "privateKey">;
}

/** Where FerryClient.follow found a job: its view there, a client for that node, and the nodes it went through. */
export interface Followed {
  view: JobView;
  /** A client (same key) for the node the job is on now. */
  at: FerryClient;
  /** Node ids from the first node asked to the last, one per hop. */
  path: string[];
  /** Set when the next hop could not be taken (node unreachable, the job not there, a loop): `view` is the last one found. */
  stopped?: { reason: string; error?: unknown };
}

/** Hops FerryClient.follow takes at most (a job that moves more often than that is reported where the chase stopped). */
export const MAX_FOLLOW_HOPS = 8;

export interface StartJob {
  codeHash: string;
  entry?: string;
  args?: (number | string)[];
  input?: Uint8Array;
  fuelLimit?: number;
  sandbox?: SandboxKind;
  waitMs?: number;
  /** A WASI program's argv, environment and directories (README, "POST /jobs"). */
  wasi?: JobWasi;
}

export class FerryClient {
  readonly url: string;
  private readonly key: FerryClientOptions["key"];
  private node: Promise<string> | undefined;

  constructor(options: FerryClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.key = options.key;
  }

  /** The same key, another node (where a job moved to, say). */
  at(url: string): FerryClient {
    return new FerryClient({ url, ...(this.key ? { key: this.key } : {}) });
  }

  /** Whether this client signs its requests (and whose it is). */
  get clientId(): string | undefined {
    return this.key?.clientId;
  }

  async request(method: string, path: string, body?: Uint8Array | string, contentType?: string): Promise<Response> {
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    const headers: Record<string, string> = {};
    if (contentType) headers["content-type"] = contentType;
    if (this.key) Object.assign(headers, signRequest(this.key, { method, path, body: bytes }));
    const response = await httpFetch(`${this.url}${path}`, { method, headers, ...(bytes ? { body: bytes } : {}) });
    if (!response.ok) throw await httpError(response, `${method} ${path}: HTTP ${response.status}`);
    return response;
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.request(
      method,
      path,
      body === undefined ? undefined : JSON.stringify(body),
      body === undefined ? undefined : "application/json",
    );
    return (await r.json()) as T;
  }

  uploadModule(bytes: Uint8Array, options: { public?: boolean } = {}): Promise<{ codeHash: string; created: boolean }> {
    return this.request("POST", `/modules?public=${options.public ? "true" : "false"}`, bytes, "application/wasm").then(
      (r) => r.json() as Promise<{ codeHash: string; created: boolean }>,
    );
  }

  /** Modules you may use on this node (public ones, and your own), newest first; `next` is the `before` of the next page. */
  listModules(query: { limit?: number; before?: string } = {}): Promise<{ modules: ModuleSummary[]; next: string | null }> {
    const params = new URLSearchParams();
    if (query.limit !== undefined) params.set("limit", String(query.limit));
    if (query.before !== undefined) params.set("before", query.before);
    const q = params.toString();
    return this.json("GET", `/modules${q ? `?${q}` : ""}`);
  }

  async downloadModule(codeHash: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.request("GET", `/modules/${codeHash}`)).arrayBuffer());
  }

  startJob(job: StartJob): Promise<JobView> {
    const { input, ...rest } = job;
    return this.json("POST", "/jobs", { ...rest, ...(input ? { input: Buffer.from(input).toString("base64") } : {}) });
  }

  /** Your jobs on this node, newest first; pass `next` back as `before` for the page after. */
  listJobs(query: { state?: string[]; limit?: number; before?: string } = {}): Promise<{ jobs: JobSummary[]; next: string | null }> {
    const params = new URLSearchParams();
    if (query.state?.length) params.set("state", query.state.join(","));
    if (query.limit !== undefined) params.set("limit", String(query.limit));
    if (query.before !== undefined) params.set("before", query.before);
    const q = params.toString();
    return this.json("GET", `/jobs${q ? `?${q}` : ""}`);
  }

  job(id: string): Promise<JobView> {
    return this.json("GET", `/jobs/${encodeURIComponent(id)}`);
  }

  pause(id: string): Promise<JobView> {
    return this.json("POST", `/jobs/${encodeURIComponent(id)}/pause`);
  }

  resume(id: string): Promise<JobView> {
    return this.json("POST", `/jobs/${encodeURIComponent(id)}/resume`);
  }

  cancel(id: string): Promise<JobView> {
    return this.json("DELETE", `/jobs/${encodeURIComponent(id)}`);
  }

  /** GET /healthz: the node answers, and its id. */
  health(): Promise<{ ok: boolean; node: string }> {
    return this.json("GET", "/healthz");
  }

  /** GET /node: this node's entry for a peers file, `{ nodeId, url, publicKey }` (url: the address this client reached it at). */
  nodeInfo(): Promise<PeerEntry> {
    return this.json("GET", "/node");
  }

  /** GET /peers: the nodes this one migrates jobs to and from. */
  peers(): Promise<PeerEntry[]> {
    return this.json("GET", "/peers");
  }

  /** GET /load: what the load-sharing policies see. */
  load(): Promise<{ node: string; running: number; paused: number; queued: number; inProcessQueue: number }> {
    return this.json("GET", "/load");
  }

  /** GET /metrics: Prometheus text. */
  async metrics(): Promise<string> {
    return (await this.request("GET", "/metrics")).text();
  }

  /** GET /openapi.json: the API's OpenAPI 3.1 description. */
  openapi(): Promise<Record<string, unknown>> {
    return this.json("GET", "/openapi.json");
  }

  /** This node's id (what its peers and migration grants call it). */
  async nodeId(): Promise<string> {
    this.node ??= this.json<{ node: string }>("GET", "/healthz").then((h) => h.node);
    return this.node.catch((e: unknown) => {
      this.node = undefined;
      throw e;
    });
  }

  /**
   * Move a job of yours to a peer. The request carries a migration grant signed with your key for
   * exactly this job, this node and that peer, valid for a few minutes: the peer runs the job as you
   * only with it (docs/auth.md, "Migration grants").
   */
  async migrate(id: string, peer: string, mode: "strong" | "weak" = "strong"): Promise<JobView> {
    const grant = this.key ? signGrant(this.key, { job: id, source: await this.nodeId(), target: peer }) : undefined;
    return this.json("POST", `/jobs/${encodeURIComponent(id)}/migrate`, { peer, mode, ...(grant ? { grant } : {}) });
  }

  /** One page of the job's output from `offset` (at most `limit` bytes, ≤ 1 MiB), and the output's size so far. */
  async outputPage(id: string, page: { offset?: number; limit?: number } = {}): Promise<{ bytes: Uint8Array; size: number }> {
    const params = new URLSearchParams();
    if (page.offset !== undefined) params.set("offset", String(page.offset));
    if (page.limit !== undefined) params.set("limit", String(page.limit));
    const q = params.toString();
    const r = await this.request("GET", `/jobs/${encodeURIComponent(id)}/output${q ? `?${q}` : ""}`);
    return { bytes: new Uint8Array(await r.arrayBuffer()), size: Number(r.headers.get("x-ferry-output-size") ?? "0") };
  }

  /** The job's output so far, page by page (each page handed to `sink` as it arrives); returns the bytes read. */
  async readOutput(id: string, sink: (bytes: Uint8Array) => void | Promise<void>): Promise<number> {
    let offset = 0;
    for (;;) {
      const { bytes, size } = await this.outputPage(id, { offset });
      if (bytes.byteLength > 0) await sink(bytes);
      offset += bytes.byteLength;
      if (bytes.byteLength === 0 || offset >= size) return offset;
    }
  }

  /**
   * Let the node's own load sharing move a job of yours to its peers and run it there as yours: one
   * migration grant per peer (default: every peer the node lists), valid for `lifetimeMs` (at most an
   * hour). Without one, a job the node moves on its own runs at the peer as anonymous code.
   */
  async allowSharing(id: string, options: { peers?: string[]; lifetimeMs?: number } = {}): Promise<JobView> {
    if (!this.key) throw new ServerError("unauthorized", "granting needs a key");
    const key = this.key;
    const source = await this.nodeId();
    const peers = options.peers ?? (await this.json<{ nodeId: string }[]>("GET", "/peers")).map((p) => p.nodeId);
    const lifetimeMs = options.lifetimeMs ?? MAX_GRANT_LIFETIME_MS;
    const grants = peers.map((target) => signGrant(key, { job: id, source, target, lifetimeMs }));
    return this.json("POST", `/jobs/${encodeURIComponent(id)}/grants`, { grants });
  }

  /**
   * GET /jobs/:id/events as typed values, until the stream ends (after a final state, or at once for
   * a job not live on this node). The first event is the job's state with `outputBytes`; output
   * events continue from exactly there. Stop iterating to close the stream.
   */
  async *events(id: string): AsyncGenerator<JobStreamEvent> {
    const response = await this.request("GET", `/jobs/${encodeURIComponent(id)}/events`);
    if (!response.body) return;
    yield* jobEvents(response.body);
  }

  /**
   * The job where it lives now: asked here, and if it migrated, asked again at the node it moved to
   * (`movedTo`), hop by hop, with the same key. Stops at a job that did not move, after
   * MAX_FOLLOW_HOPS, at a record older than the move that led to it (a loop of stale records), or at
   * a node that cannot be reached or does not have it (`stopped` says which; `view` is the last found).
   */
  async follow(id: string, options: { maxHops?: number } = {}): Promise<Followed> {
    const maxHops = options.maxHops ?? MAX_FOLLOW_HOPS;
    let at: FerryClient = this;
    let view = await this.job(id);
    // A migrated job's record names the node it moved to; the node asked first is this one.
    const path = [view.state === "migrated" ? await this.nodeId().catch(() => this.url) : view.node];
    for (let hop = 0; view.state === "migrated" && view.movedTo; hop++) {
      const next = view.movedTo;
      if (hop >= maxHops) return { view, at, path, stopped: { reason: `still moving after ${maxHops} hops` } };
      if (next.url === null)
        return { view, at, path, stopped: { reason: `moved to node ${next.node}, whose address this node no longer knows` } };
      const there = at.at(next.url);
      let found: JobView;
      try {
        found = await there.job(id);
      } catch (error) {
        return { view, at, path, stopped: { reason: `moved to node ${next.node} at ${next.url}, which did not answer for it`, error } };
      }
      // The hand-over gives the job the same epoch at both ends; each further move adds one. A record
      // older than that, or a move away at no newer epoch, is stale: following it could go round in circles.
      if (found.epoch < view.epoch || (found.state === "migrated" && found.epoch <= view.epoch)) {
        return {
          view,
          at,
          path,
          stopped: {
            reason: `moved to node ${next.node}, which holds an older record of it (epoch ${found.epoch}, moved at ${view.epoch})`,
          },
        };
      }
      at = there;
      view = found;
      path.push(next.node);
    }
    return { view, at, path };
  }

  async snapshot(id: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.request("GET", `/jobs/${encodeURIComponent(id)}/snapshot`)).arrayBuffer());
  }

  /** Poll until the job leaves running/paused/migrating, or the deadline passes. */
  async waitFor(id: string, options: { timeoutMs?: number; states?: string[] } = {}): Promise<JobView> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    const wanted = options.states;
    for (;;) {
      const view = await this.job(id);
      const settled = wanted ? wanted.includes(view.state) : !["queued", "running", "migrating"].includes(view.state);
      if (settled) return view;
      if (Date.now() > deadline)
        throw new HttpError(408, "timeout", `job ${id} still ${view.state} after ${options.timeoutMs ?? 30_000} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

export function isServerErrorCode(code: string): code is ServerErrorCode {
  return code in SERVER_ERROR_MESSAGES;
}

export { ServerError };
