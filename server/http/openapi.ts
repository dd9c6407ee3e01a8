// The OpenAPI 3.1 description served at GET /openapi.json (prose in docs/http-api.md).

import { MAX_WASI_PREOPENS } from "../../runtime/index.js";
import { MAX_ENTRY_ARGS } from "../../runtime/light.js";
import { JOB_SCHEMA } from "./openapi-job.js";

const error = { $ref: "#/components/responses/Error" };
const job = { description: "the job", content: { "application/json": { schema: { $ref: "#/components/schemas/Job" } } } };
const idParam = [{ name: "id", in: "path", required: true, schema: { type: "string" } }];
const signed = [{ ferrySignature: [] }];
const pinParam = [{ name: "pin", in: "path", required: true, schema: { type: "string" } }];

export const OPENAPI = {
  openapi: "3.1.0",
  info: { title: "Ferry node", version: "1", description: "Upload, run, pause, snapshot and migrate WebAssembly guests." },
  components: {
    securitySchemes: {
      ferrySignature: {
        type: "apiKey",
        in: "header",
        name: "x-ferry-signature",
        description: "Ed25519 signature over method, path, timestamp, nonce and sha256(body); see docs/auth.md.",
      },
    },
    responses: {
      Error: {
        description: "failure",
        content: {
          "application/json": {
            schema: {
              type: "object",
              required: ["error"],
              properties: {
                error: {
                  type: "object",
                  required: ["code", "message"],
                  properties: { code: { type: "string" }, message: { type: "string" } },
                },
              },
            },
          },
        },
      },
    },
    schemas: {
      Job: JOB_SCHEMA,
      Wasi: {
        type: "object",
        additionalProperties: false,
        description:
          'a WASI program\'s argv[1..], environment and preopened directories. `resource`: a directory under your resource root (<data-dir>/resources/<client>/<resource>, made when missing), granted by a prefix capability covering it ("reports/*:rw" → "reports"; "r" needs read, "rw" read and write); such jobs run isolated. `scratch`: a private in-memory tree that lives and moves with the job (anonymous callers: scratch only)',
        properties: {
          args: { type: "array", items: { type: "string" } },
          env: { type: "object", additionalProperties: { type: "string" } },
          dirs: {
            type: "array",
            maxItems: MAX_WASI_PREOPENS,
            items: {
              oneOf: [
                {
                  type: "object",
                  required: ["guest", "resource", "access"],
                  additionalProperties: false,
                  properties: {
                    guest: { type: "string", minLength: 1 },
                    resource: { type: "string", pattern: "^[A-Za-z0-9._\\-/]{1,200}$" },
                    access: { enum: ["r", "rw"] },
                    binding: { enum: ["identifier", "value", "type"], description: "default identifier (this very directory)" },
                    attachment: { enum: ["unattached", "fastened", "fixed"], description: "default fastened" },
                    migrate: {
                      enum: ["move", "copy", "global-reference", "rebind"],
                      description:
                        "what a migration does with it; default by the binding table (identifier + fastened → global-reference); an action the table does not allow for the binding and attachment is 400",
                    },
                    home: {
                      type: "object",
                      readOnly: true,
                      description:
                        "set by migration, never by a client: the node the directory stays at and the pin the job reaches it by (global reference)",
                    },
                  },
                },
                {
                  type: "object",
                  required: ["guest", "scratch"],
                  additionalProperties: false,
                  properties: { guest: { type: "string", minLength: 1 }, scratch: { const: true } },
                },
              ],
            },
          },
        },
      },
      JobRequest: {
        type: "object",
        required: ["codeHash"],
        additionalProperties: false,
        properties: {
          codeHash: { type: "string", pattern: "^[0-9a-f]{64}$" },
          entry: { type: "string", default: "main" },
          args: { type: "array", maxItems: MAX_ENTRY_ARGS, items: { type: ["number", "string"] } },
          input: { type: "string", contentEncoding: "base64" },
          fuelLimit: { type: "integer", minimum: 1 },
          sandbox: { enum: ["in-process", "isolated"] },
          waitMs: { type: "number", minimum: 0, maximum: 60000 },
          wasi: { $ref: "#/components/schemas/Wasi" },
        },
      },
    },
  },
  paths: {
    "/modules": {
      get: {
        summary: "Modules you may use here (public ones, and your own), newest first: { modules, next }",
        parameters: [
          { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 500, default: 50 } },
          { name: "before", in: "query", required: false, schema: { type: "string" }, description: "the `next` of the previous page" },
        ],
        responses: {
          "200": { description: "{ modules: { codeHash, public, size, createdAt, mine }[], next: string | null }" },
          "400": error,
          "404": error,
        },
      },
      post: {
        summary: "Upload a module (authenticated); it is validated and instrumented before it is stored",
        security: signed,
        parameters: [{ name: "public", in: "query", schema: { type: "boolean", default: false } }],
        requestBody: { content: { "application/wasm": {} } },
        responses: {
          "201": { description: "stored; { codeHash, created }" },
          "200": { description: "already stored" },
          "401": error,
          "413": error,
          "422": error,
        },
      },
    },
    "/modules/{hash}": {
      get: {
        summary: "Download a public module (or one of your own)",
        parameters: [{ name: "hash", in: "path", required: true, schema: { type: "string" } }],
        responses: { "200": { description: "module bytes", content: { "application/wasm": {} } }, "404": error },
      },
    },
    "/modules/{hash}/interface": {
      get: {
        summary: "A module's imports and exports (to whoever may download it): { codeHash, imports, exports }",
        parameters: [{ name: "hash", in: "path", required: true, schema: { type: "string" } }],
        responses: {
          "200": {
            description:
              "{ codeHash, imports: { module, name, kind, params?, results? }[], exports: { name, kind, params?, results? }[] } — kind func | table | memory | global | tag; params and results (value types) for functions",
          },
          "404": error,
        },
      },
    },
    "/jobs": {
      get: {
        summary: "Your jobs on this node, newest first, without output: { jobs, next }",
        parameters: [
          { name: "state", in: "query", required: false, schema: { type: "string" }, description: "comma-separated job states" },
          { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 500, default: 50 } },
          { name: "before", in: "query", required: false, schema: { type: "string" }, description: "the `next` of the previous page" },
        ],
        responses: {
          "200": { description: "{ jobs: Job[] (without outputBytes), next: string | null }" },
          "400": error,
          "401": error,
          "404": error,
        },
      },
      post: {
        summary: "Start a job: authenticated → isolated by default; anonymous → in-process, public modules, pure compute",
        requestBody: { content: { "application/json": { schema: { $ref: "#/components/schemas/JobRequest" } } } },
        responses: { "201": job, "400": error, "401": error, "403": error, "404": error },
      },
    },
    "/jobs/{id}": {
      get: { summary: "State, result, output size and fuel of a job", parameters: idParam, responses: { "200": job, "404": error } },
      delete: { summary: "Cancel a job", parameters: idParam, responses: { "200": job, "404": error } },
    },
    "/jobs/{id}/output": {
      get: {
        summary:
          "A page of the job's output: raw bytes from offset, at most limit (≤ 1 MiB); header x-ferry-output-size is the output's size so far",
        parameters: [
          ...idParam,
          { name: "offset", in: "query", required: false, schema: { type: "integer", minimum: 0, default: 0 } },
          { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 1048576, default: 1048576 } },
        ],
        responses: { "200": { description: "bytes" }, "400": error, "404": error },
      },
    },
    "/jobs/{id}/events": {
      get: {
        summary: "Server-sent events: the current state, then log, output (base64) and every state change; ends after a final state",
        parameters: idParam,
        responses: { "200": { description: "text/event-stream" }, "404": error },
      },
    },
    "/jobs/{id}/pause": {
      post: { summary: "Pause after the current slice and checkpoint", parameters: idParam, responses: { "200": job, "409": error } },
    },
    "/jobs/{id}/resume": { post: { summary: "Resume a paused job", parameters: idParam, responses: { "200": job, "409": error } } },
    "/jobs/{id}/migrate": {
      post: {
        summary: "Move the job to a peer: strong (running/paused, with its snapshot) or weak (code + arguments)",
        security: signed,
        parameters: idParam,
        requestBody: {
          content: {
            "application/json": {
              schema: { type: "object", required: ["peer"], properties: { peer: { type: "string" }, mode: { enum: ["strong", "weak"] } } },
            },
          },
        },
        responses: { "200": job, "401": error, "404": error, "409": error, "502": error },
      },
    },
    "/jobs/{id}/snapshot": {
      get: {
        summary: "The encoded snapshot of a paused job",
        parameters: idParam,
        responses: { "200": { description: "FERRYSNP bytes" }, "409": error },
      },
    },
    "/node": {
      get: {
        summary: "This node's entry for a peers file",
        responses: { "200": { description: "{ nodeId, url, publicKey }: url is the origin the request reached" } },
      },
    },
    "/peers": {
      get: {
        summary: "The peers this node migrates jobs to and from",
        responses: { "200": { description: "[{ nodeId, url, publicKey }]" } },
      },
    },
    "/peer/resources/{pin}": {
      get: {
        summary:
          "A pin's description for its peer node: { pin, jobId, dir, access, createdAt, lastSeq } (a global reference's proxy numbers its next call from lastSeq)",
        security: signed,
        parameters: pinParam,
        responses: { "200": { description: "the pin" }, "401": error, "403": error, "404": error },
      },
      post: {
        summary:
          "One file-system call on a pinned directory, by the pin's peer node (docs/resource-segment.md, \"Global references\"): seq (u64 LE) · op · target · fs-wire payload. seq = last + 1 runs it; seq = last with the same body answers it again; anything else is 409 out_of_order. The owner's capabilities are checked at every call (403, not run)",
        security: signed,
        parameters: pinParam,
        requestBody: { content: { "application/octet-stream": { schema: { type: "string", format: "binary", maxLength: 1114112 } } } },
        responses: {
          "200": {
            description:
              "value (f64 LE: 0, a handle, a byte count, or -(1 + FsError index)) · payload (bytes, JSON, or the error's message)",
          },
          "400": error,
          "401": error,
          "403": error,
          "404": error,
          "409": error,
          "413": error,
        },
      },
    },
    "/peer/resources/{pin}/handover": {
      post: {
        summary:
          "The pin's peer node hands its job on to node `to` ({ to }): a new pin for `to` (same job, owner, directory, access; the owner's capabilities checked again); the old one stays until released",
        security: signed,
        parameters: pinParam,
        responses: { "200": { description: "{ pin, access }" }, "400": error, "401": error, "403": error, "404": error },
      },
    },
    "/peer/resources/{pin}/handover/cancel": {
      post: {
        summary:
          "The pin's peer node takes back a hand-over whose transfer was abandoned ({ pin }): that pin, of the same job and directory and never called, is released",
        security: signed,
        parameters: pinParam,
        responses: { "200": { description: "{ released: boolean }" }, "401": error, "403": error, "404": error, "409": error },
      },
    },
    "/peer/resources/{pin}/release": {
      post: {
        summary: "The pin's peer node is done with it: its open files are closed and the pin dropped",
        security: signed,
        parameters: pinParam,
        responses: { "200": { description: "{ released: pin }" }, "401": error, "403": error, "404": error },
      },
    },
    "/balance": {
      get: {
        summary: "Live load sharing: this node's policy and counters (polls, moves, timeouts)",
        responses: { "200": { description: "stats" } },
      },
    },
    "/balance/recent": {
      get: {
        summary: "The balancer's settings and last polls, for the dashboard",
        responses: {
          "200": {
            description:
              "{ enabled, policy, metric, thresholds: { lower, upper, threshold } | null, members: [node id], polls: [{ at (Unix ms), to (node id), probe, round }], backoffs: [{ at, delayMs }] } (the last 50 of each)",
          },
        },
      },
    },
    "/migrations": {
      get: {
        summary: "This node's recent moves out and in (the last 200, newest first; a restart forgets them)",
        parameters: [{ name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 200 } }],
        responses: {
          "200": {
            description:
              "{ node, migrations: [{ direction (out | in), at (Unix ms of the decision, or of running here for a move in), job (the id for its owner's signed request, else null), from, to, mode, downtimeMs (out: stopped here → decided; in: PREPARE received → running here), bytes (sent or received), precopyRounds }] }",
          },
          "400": error,
        },
      },
    },
    "/ui/{page}": {
      get: {
        summary: "The dashboard (also at /): an HTML page whose scripts read this API; assets under /ui/assets/ with ETags",
        parameters: [{ name: "page", in: "path", required: true, schema: { type: "string" } }],
        responses: { "200": { description: "text/html, with a Content-Security-Policy that allows no inline script" } },
      },
    },
    "/load": { get: { summary: "This node's load, for load sharing", responses: { "200": { description: "load" } } } },
    "/healthz": { get: { summary: "Liveness", responses: { "200": { description: "ok" } } } },
    "/metrics": { get: { summary: "Prometheus metrics", responses: { "200": { description: "text/plain; version=0.0.4" } } } },
  },
} as const;
