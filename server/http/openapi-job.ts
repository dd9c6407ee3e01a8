// The Job object of the OpenAPI description (openapi.ts): every field GET /jobs/:id answers, with
// what it means; kept apart so the description stays one readable file per part.

export const JOB_SCHEMA = {
  type: "object",
  properties: {
    id: { type: "string" },
    state: { enum: ["queued", "running", "paused", "migrating", "migrated", "done", "trapped", "failed", "cancelled"] },
    codeHash: { type: "string" },
    entry: { type: "string" },
    args: { type: "array", items: { type: ["number", "string"] } },
    trust: { enum: ["anonymous", "authenticated"] },
    sandbox: { enum: ["in-process", "isolated"] },
    node: { type: "string" },
    epoch: { type: "integer" },
    fuelUsed: { type: "integer" },
    result: {
      type: ["object", "null"],
      description: "how the job ended ({ status: done | trapped | failed | cancelled, … }); null until it has",
    },
    movedTo: {
      type: ["object", "null"],
      description:
        "set when the job is migrated: the node it lives on now, this node's address for it, and whether the hand-over was acknowledged",
      properties: { node: { type: "string" }, url: { type: ["string", "null"] }, committed: { type: "boolean" } },
    },
    outputBytes: { type: "integer", description: "output so far, bytes; the output itself: GET /jobs/{id}/output" },
    lastCheckpoint: {
      type: ["object", "null"],
      description:
        "the newest durable snapshot (a restart resumes from it): seq (the job's checkpoints on this node: 1, 2, 3, …), fuel, createdAt, bytes (stored size; a delta's own when delta is true); null for none or a finished job",
      properties: {
        seq: { type: "integer" },
        fuel: { type: "integer" },
        createdAt: { type: "integer" },
        bytes: { type: "integer" },
        delta: { type: "boolean" },
      },
    },
    executionSegment: {
      type: ["object", "null"],
      description:
        "the execution segment as of the newest checkpoint (counted when it was written): linear memory held (memoryPages of 64 KiB, memoryBytes), touchedPages (pages holding a non-zero byte, what a full snapshot carries), savedFrameBytes (call frames Asyncify saved at the pause; 0 when the job stopped with none); null without a checkpoint",
      properties: {
        checkpoint: { type: "integer" },
        memoryPages: { type: "integer" },
        memoryBytes: { type: "integer" },
        touchedPages: { type: "integer" },
        savedFrameBytes: { type: "integer" },
      },
    },
    wasi: { $ref: "#/components/schemas/Wasi" },
    bindings: {
      type: "array",
      description:
        "GET /jobs/{id} of a WASI job: each resource it holds (stdin, stdout, stderr, clock, random, each directory by guest path) with its binding (identifier | value | type), attachment (unattached | fastened | fixed) and the action a migration takes (move | copy | global-reference | rebind)",
      items: {
        type: "object",
        properties: {
          resource: { type: "string" },
          kind: { type: "string" },
          binding: { type: "string" },
          attachment: { type: "string" },
          action: { type: "string" },
          home: { type: "string", description: "the node a directory reached by global reference stays at" },
        },
      },
    },
    resourceSegment: {
      type: ["object", "null"],
      description:
        "GET /jobs/{id} of a WASI job: while it is stopped (paused, prepared) the resource segment of its newest checkpoint — { checkpoint, fds: [{ fd, kind, preopen, path, offset, rights }], monotonicNs, sleeping, scratch: { guest: { entries } } }; null while it runs",
    },
  },
};
