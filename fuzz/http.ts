// Target "http": malformed and hostile requests against a live node — a real `ferry serve` child
// process on 127.0.0.1, port 0. Every error answer must be JSON `{ error: { code, message } }`,
// never a 500 or a stack trace, and /healthz must answer between requests (and while slow,
// half-sent bodies hold connections open).

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { findRepoRoot } from "../guest/catalog.js";
import { generateSigningKey, signRequest, type SigningKey } from "../server/auth/index.js";
import { FerryClient } from "../server/client.js";
import { Store } from "../server/store/store.js";
import { CaseFailure, count, describeError, fromBase64, toBase64, type CaseOutcome } from "./case.js";
import { caseRng, type Rng } from "./rng.js";

export interface HttpRequestSpec {
  method: string;
  /** Path and query; `{hash}` and `{job}` become a real module hash and job id of the node. */
  path: string;
  headers: Record<string, string>;
  body: string;
  /** How the request is signed: not at all, by the registered client (then maybe altered), or by the configured peer. */
  sign: "none" | "client" | "client-then-altered" | "client-stale" | "garbage" | "peer" | "peer-garbage";
  /** normal: the body as declared; partial: headers and part of the body, then the connection stays open unfinished. */
  mode: "normal" | "huge-length" | "partial";
}

export interface HttpCase {
  target: "http";
  seed: number;
  index: number;
  requests: HttpRequestSpec[];
}

export interface HttpNode {
  url: string;
  child: ChildProcess;
  key: SigningKey;
  peerKey: SigningKey;
  codeHash: string;
  jobId: string;
  dataDir: string;
  close(): Promise<void>;
}

/** Most half-sent requests a case holds open at once (slowloris, bounded). */
const MAX_PARTIAL = 16;
const ANSWER_TIMEOUT_MS = 15_000;
const HEALTH_TIMEOUT_MS = 5_000;

/** A public module whose main returns 42: the jobs fuzz requests start end at once. */
const ANSWER_WASM = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 7, 8, 1, 4, 109, 97, 105, 110, 0, 0, 10, 6, 1, 4, 0, 65, 42, 11,
]);

export async function startHttpNode(): Promise<HttpNode> {
  const dataDir = mkdtempSync(join(tmpdir(), "ferry-fuzz-http-"));
  const key = generateSigningKey();
  const peerKey = generateSigningKey();
  const store = Store.open(dataDir);
  store.clients.add({ publicKey: key.publicKey, quotas: {}, capabilities: [] });
  // Port 9 (discard) on loopback: the node never reaches this "peer"; the fuzzer signs as it.
  store.peers.upsert({ nodeId: peerKey.clientId, url: "http://127.0.0.1:9", publicKey: peerKey.publicKey });
  store.close();
  const bin = join(findRepoRoot(), "bin", "ferry.js");
  const child = spawn(
    process.execPath,
    [bin, "serve", "--port", "0", "--data-dir", dataDir, "--json", "--checkpoint-interval-ms", "1000"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code, signal) => reject(new Error(`ferry serve exited (${code ?? signal}) before listening: ${stderr}`)));
  });
  const url = (JSON.parse(line) as { url: string }).url;
  const client = new FerryClient({ url, key });
  const codeHash = (await client.uploadModule(ANSWER_WASM, { public: true })).codeHash;
  const job = await client.startJob({ codeHash, waitMs: 5_000 } as Parameters<FerryClient["startJob"]>[0]);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    url,
    child,
    key,
    peerKey,
    codeHash,
    jobId: job.id,
    dataDir,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ---- generating requests ----

const KNOWN_METHODS = new Set(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]);
const METHODS = ["GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "FOO"];
const PATHS = [
  "/healthz",
  "/load",
  "/peers",
  "/metrics",
  "/openapi.json",
  "/modules",
  "/modules/{hash}",
  "/modules/abc",
  `/modules/${"f".repeat(64)}`,
  "/jobs",
  "/jobs/{job}",
  "/jobs/{job}/output",
  "/jobs/{job}/pause",
  "/jobs/{job}/resume",
  "/jobs/{job}/snapshot",
  "/jobs/{job}/events",
  "/jobs/nope",
  "/jobs/{job}/migrate",
  "/peer/migrations/prepare",
  "/peer/migrations/commit",
  "/peer/migrations/abort",
  "/peer/hello",
  "/peer/balance",
  "/peer/modules/{hash}",
  "/",
  "//",
  "/..%2f..%2fetc%2fpasswd",
  "/jobs/%00",
  "/%ff%fe",
  "/modules/{hash}/../../jobs",
  `/jobs/{job}/${"x".repeat(3000)}`,
];
const QUERIES = [
  "",
  "",
  "",
  "?public=true",
  "?public=maybe",
  "?limit=-1",
  "?limit=1e9&cursor=%ff",
  "?state=running,nonsense",
  "?a=1&a=2&a=3",
  "?%zz=%",
  `?cursor=${"A".repeat(5000)}`,
  "?limit=10&state=done",
];
const CONTENT_TYPES = [
  undefined,
  "application/json",
  "application/json",
  "text/plain",
  "application/wasm",
  "multipart/form-data; boundary=x",
  "application/json; charset=utf-16",
  "application/x-www-form-urlencoded",
  'x/garbage;;;=""',
];

function jobBody(rng: Rng): unknown {
  const values: unknown[] = [
    "{hash}",
    5,
    null,
    -1,
    Number.POSITIVE_INFINITY,
    "main",
    [],
    {},
    "x".repeat(100_000),
    2 ** 53,
    "__proto__",
    true,
  ];
  const body: Record<string, unknown> = {};
  for (const k of [
    "codeHash",
    "entry",
    "args",
    "fuel",
    "fuelLimit",
    "waitMs",
    "sandbox",
    "input",
    "timeoutMs",
    "public",
    "__proto__",
    "constructor",
  ]) {
    if (rng.chance(0.4))
      body[k] = k === "codeHash" && rng.chance(0.6) ? "{hash}" : k === "waitMs" ? rng.pick([0, 10, 500, -5, "x"]) : rng.pick(values);
  }
  return body;
}

function randomBody(rng: Rng): Uint8Array {
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  switch (rng.int(12)) {
    case 0:
      return new Uint8Array(0);
    case 1:
      return text(rng.pick(["{", "[", "}", "null", "true", "1", '"x"', "[]", "{}", '{"a":', "\u0000", '{"codeHash":"{hash}"']));
    case 2:
      return text("[".repeat(rng.pick([100, 10_000, 100_000])));
    case 3:
      return rng.bytes(rng.logInt(200_000));
    case 4:
      return new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, ...rng.bytes(rng.logInt(1000))]);
    case 5:
      return ANSWER_WASM;
    case 6:
      return text(JSON.stringify({ url: rng.pick(["http://169.254.169.254/", "http://127.0.0.1:1", "file:///etc/passwd", "x", 5]) }));
    default: {
      const json = JSON.stringify(jobBody(rng));
      return text(rng.chance(0.2) ? json.slice(0, rng.int(json.length)) : json);
    }
  }
}

export function generateHttpCase(seed: number, index: number): HttpCase {
  const rng = caseRng(seed, "http", index);
  const requests: HttpRequestSpec[] = [];
  const n = rng.range(1, 4);
  for (let k = 0; k < n; k++) {
    const path = rng.pick(PATHS) + rng.pick(QUERIES);
    const headers: Record<string, string> = {};
    const type = rng.pick(CONTENT_TYPES);
    if (type !== undefined) headers["content-type"] = type;
    if (rng.chance(0.05)) headers["x-ferry-timestamp"] = rng.pick(["", "NaN", "-1", "1e400", String(2 ** 60)]);
    if (rng.chance(0.05)) headers["x-ferry-transfer"] = rng.pick(["", "garbage", "v1.".padEnd(400, "A")]);
    requests.push({
      method: rng.pick(METHODS),
      path,
      headers,
      body: toBase64(randomBody(rng)),
      sign: rng.pick([
        "none",
        "none",
        "none",
        "client",
        "client",
        "client-then-altered",
        "client-stale",
        "garbage",
        path.startsWith("/peer/") ? "peer" : "client",
        "peer-garbage",
      ] as const),
      mode: rng.pick(["normal", "normal", "normal", "normal", "normal", "normal", "huge-length", "partial"] as const),
    });
  }
  return { target: "http", seed, index, requests };
}

// ---- sending and judging ----

interface Answer {
  status: number;
  body: string;
}

function prepare(node: HttpNode, r: HttpRequestSpec): { path: string; headers: Record<string, string>; body: Uint8Array } {
  const fill = (s: string): string => s.replaceAll("{hash}", node.codeHash).replaceAll("{job}", node.jobId);
  const path = fill(r.path);
  const raw = fromBase64(r.body);
  const body: Uint8Array = new Uint8Array(Buffer.from(fill(Buffer.from(raw).toString("latin1")), "latin1"));
  const headers: Record<string, string> = { ...r.headers };
  const signAs = (key: SigningKey, now?: number, signedBody = body): void => {
    Object.assign(headers, signRequest(key, { method: r.method, path, body: signedBody, ...(now === undefined ? {} : { now }) }));
  };
  switch (r.sign) {
    case "client":
      signAs(node.key);
      break;
    case "client-then-altered":
      signAs(node.key, undefined, new Uint8Array([...body, 32]));
      break;
    case "client-stale":
      signAs(node.key, Date.now() - 3_600_000);
      break;
    case "peer":
      signAs(node.peerKey);
      break;
    case "peer-garbage":
      signAs(node.peerKey);
      headers["x-ferry-signature"] = "A".repeat(86);
      break;
    case "garbage":
      Object.assign(headers, {
        "x-ferry-client": "nobody",
        "x-ferry-timestamp": String(Date.now()),
        "x-ferry-nonce": "n",
        "x-ferry-signature": "%%%",
      });
      break;
    default:
      break;
  }
  return { path, headers, body };
}

/** Send one request; resolves with the answer, or undefined when a partial request was left open. */
function send(node: HttpNode, r: HttpRequestSpec, open: Array<() => void>): Promise<Answer | undefined> {
  const { path, headers, body } = prepare(node, r);
  const url = new URL(node.url);
  return new Promise<Answer | undefined>((resolve, reject) => {
    let settled = false;
    const done = (a: Answer | undefined): void => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(a);
      }
    };
    const outgoing: Record<string, string> = { ...headers };
    if (r.mode === "huge-length") outgoing["content-length"] = String(2 ** 40 + body.byteLength);
    else if (r.mode === "partial") outgoing["content-length"] = String(body.byteLength + 1024);
    else outgoing["content-length"] = String(body.byteLength);
    const req = httpRequest({ host: url.hostname, port: url.port, method: r.method, path, headers: outgoing, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => {
        done({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString("utf8") });
        req.destroy();
      });
      res.on("error", () => done({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString("utf8") }));
    });
    const partial = r.mode !== "normal";
    const timer = setTimeout(
      () => {
        if (partial) {
          // Left open (slowloris): the case closes it after checking the node still answers.
          open.push(() => req.destroy());
          done(undefined);
        } else {
          req.destroy();
          if (!settled) {
            settled = true;
            reject(new CaseFailure("no-answer", `${r.method} ${path.slice(0, 200)}: no answer within ${ANSWER_TIMEOUT_MS} ms`));
          }
        }
      },
      partial ? 300 : ANSWER_TIMEOUT_MS,
    );
    req.on("error", (e) => {
      // A server may close a connection whose body it refuses to read, and Node's HTTP parser closes
      // one whose method it does not know before the app sees it; otherwise an answer is owed.
      if (partial || r.method === "HEAD" || !KNOWN_METHODS.has(r.method)) done(undefined);
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(new CaseFailure("no-answer", `${r.method} ${path.slice(0, 200)}: ${describeError(e)}`));
      }
    });
    req.write(body);
    if (!partial) req.end();
  });
}

function judge(r: HttpRequestSpec, a: Answer, counters: Record<string, number>): void {
  count(counters, `status ${a.status}`);
  if (/\n\s+at .+\(.+:\d+:\d+\)/.test(a.body) || /node:internal|\/work\/|dist\/server/.test(a.body)) {
    throw new CaseFailure("stack-in-answer", `${r.method} ${r.path.slice(0, 200)} → ${a.status}: ${a.body.slice(0, 400)}`);
  }
  if (a.status >= 500 && a.status !== 502 && a.status !== 503)
    throw new CaseFailure("server-error", `${r.method} ${r.path.slice(0, 200)} → ${a.status}: ${a.body.slice(0, 400)}`);
  if (a.status < 400 || r.method === "HEAD") return;
  // Node's HTTP parser refuses some requests (bad chunking, header overflow) before the app sees them: no body at all.
  if (a.body === "" && a.status === 400) {
    count(counters, "400 from the HTTP parser");
    return;
  }
  let code: unknown;
  try {
    const parsed = JSON.parse(a.body) as { error?: { code?: unknown; message?: unknown } };
    code = parsed.error?.code;
    if (typeof code !== "string" || typeof parsed.error?.message !== "string") throw new Error("no code");
  } catch {
    throw new CaseFailure("non-json-error", `${r.method} ${r.path.slice(0, 200)} → ${a.status}: ${a.body.slice(0, 400)}`);
  }
  count(counters, `error ${code}`);
}

async function healthy(node: HttpNode): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null)
    throw new CaseFailure("node-died", `the node exited (${node.child.exitCode ?? node.child.signalCode})`);
  const ok = await Promise.race([
    fetch(`${node.url}/healthz`).then(
      (r) => r.status === 200,
      () => false,
    ),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), HEALTH_TIMEOUT_MS).unref()),
  ]);
  if (!ok) throw new CaseFailure("unresponsive", `/healthz did not answer 200 within ${HEALTH_TIMEOUT_MS} ms`);
}

export async function runHttpCase(node: HttpNode, spec: HttpCase): Promise<CaseOutcome> {
  const counters: Record<string, number> = {};
  const open: Array<() => void> = [];
  try {
    for (const r of spec.requests) {
      const a = await send(node, r, open);
      if (a) judge(r, a, counters);
      else count(counters, "left half-sent");
      if (open.length > MAX_PARTIAL) for (const close of open.splice(0)) close();
      await healthy(node);
    }
    return { status: "ok", counters };
  } catch (e) {
    if (e instanceof CaseFailure) return { status: "failed", failure: { kind: e.kind, detail: e.detail }, counters };
    return { status: "failed", failure: { kind: "exception", detail: describeError(e) }, counters };
  } finally {
    for (const close of open) close();
  }
}

export function shrinkHttpCase(spec: HttpCase): HttpCase[] {
  if (spec.requests.length <= 1) return [];
  return spec.requests.map((_, i) => ({ ...spec, requests: spec.requests.filter((__, k) => k !== i) }));
}
