// The import rules of docs/design.md ("Import rules"), checked by `npm run lint` (dependency-cruiser).
// Zero exceptions: a rule that has to bend means the code is in the wrong room — move it.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycle",
      severity: "error",
      comment: "A cycle means two files are one idea split in two, or a type lives in the wrong room.",
      from: {},
      to: { circular: true },
    },
    {
      name: "runtime-stands-alone",
      severity: "error",
      comment: "The runtime is embeddable: it never imports the server, the lab or the harnesses.",
      from: { path: "^runtime/" },
      to: { path: "^(server|web|lab|bench|fuzz|conformance|tests|guest)/" },
    },
    {
      name: "server-uses-public-runtime",
      severity: "error",
      comment:
        "The server uses the runtime through its public entry points only: runtime/index.ts (\"ferry\"), " +
        "runtime/balance/index.ts (\"ferry/balance\") and runtime/light.ts (the leaves a command that runs no guest needs).",
      from: { path: "^server/" },
      to: { path: "^runtime/", pathNot: "^runtime/(index|light|balance/index)\\.ts$" },
    },
    {
      name: "lab-uses-public-runtime",
      severity: "error",
      comment: "The lab is a user of the product like any other: public entry points only.",
      from: { path: "^lab/" },
      to: { path: "^runtime/", pathNot: "^runtime/(index|light|balance/index)\\.ts$" },
    },
    {
      name: "product-not-lab",
      severity: "error",
      comment: "The product (runtime, server) does not import the lab, the harnesses or the test oracles.",
      from: { path: "^(runtime|server)/" },
      to: { path: "^(lab|bench|fuzz|conformance|tests|guest)/" },
    },
    {
      name: "http-is-the-outer-wing",
      severity: "error",
      comment: "HTTP calls the node; the node, migration and store never reach back into http/.",
      from: { path: "^server/(node|migration|store|balance|peers|auth)/" },
      to: { path: "^server/http/" },
    },
    {
      name: "exec-not-sandbox",
      severity: "error",
      comment: "Sandboxes place instances; the execution segment does not know where it runs.",
      from: { path: "^runtime/exec/" },
      to: { path: "^runtime/sandbox/" },
    },
    {
      name: "resources-not-exec",
      severity: "error",
      comment: "Resources are below the execution segment: they raise typed errors, exec turns them into traps.",
      from: { path: "^runtime/resources/" },
      to: { path: "^runtime/exec/" },
    },
    {
      name: "host-below-exec",
      severity: "error",
      comment:
        "Host interfaces (runtime/host/) are what code/ derives its allow-list from and what exec/ and sandbox/ provide and carry: " +
        "they import only resources/ seams (capabilities, provider, the Directory) and the runtime's leaves, never code/, exec/, sandbox/ or the engine.",
      from: { path: "^runtime/host/" },
      to: { path: "^runtime/", pathNot: "^runtime/(host/|resources/(capabilities|provider|directory)\\.ts$|traps\\.ts$|limits\\.ts$|errors\\.ts$|shape-anchor\\.ts$)" },
    },
    {
      name: "resources-not-host",
      severity: "error",
      comment: "Resources are the providers behind the host interfaces: host/ uses them, never the other way.",
      from: { path: "^runtime/resources/" },
      to: { path: "^runtime/host/" },
    },
    {
      name: "store-not-auth",
      severity: "error",
      comment: "The store keeps rows; auth decides what they mean.",
      from: { path: "^server/store/" },
      to: { path: "^server/auth/" },
    },
    {
      name: "migration-not-node",
      severity: "error",
      comment: "Migration declares what it needs of a job and of the node (migration/host.ts); the node implements it.",
      from: { path: "^server/migration/" },
      to: { path: "^server/(node|http)/" },
    },
    {
      name: "formats-are-leaves",
      severity: "error",
      comment: "server/formats/ holds pure formats the store and auth share: it imports neither (only the typed errors).",
      from: { path: "^server/formats/" },
      to: { path: "^server/(?!formats/|errors\\.ts$)" },
    },
    {
      name: "balance-is-pure",
      severity: "error",
      comment: "Policies are pure: the simulator and the live node drive the same code.",
      from: { path: "^runtime/balance/" },
      to: { path: "^runtime/(?!balance/|errors\\.ts)" },
    },
    {
      name: "web-talks-http-only",
      severity: "error",
      comment:
        "The dashboard (web/) talks to the node only through its HTTP API, like the CLI: it imports nothing of the " +
        "server, the runtime, the lab or the harnesses; the server mounts it (server/http/app.ts).",
      from: { path: "^web/" },
      to: { path: "^(runtime|server|lab|bench|fuzz|conformance|tests|guest)/" },
    },
    {
      name: "web-client-is-the-browser",
      severity: "error",
      comment:
        "web/client/ runs in the browser: it imports only its own modules (no Node built-ins, no npm package — " +
        "nothing a page could not load from /ui/assets/).",
      from: { path: "^web/client/" },
      to: { pathNot: "^web/client/" },
    },
    {
      name: "only-http-mounts-web",
      severity: "error",
      comment: "Only the HTTP wing mounts the dashboard; nothing else in the product depends on it.",
      from: { path: "^(runtime|server|lab)/", pathNot: "^server/http/app\\.ts$" },
      to: { path: "^web/" },
    },
    {
      name: "binaryen-only-through-its-loader",
      severity: "error",
      comment:
        "Binaryen (~10 MB of JS) loads only inside a compile worker, through runtime/code/binaryen.ts's dynamic import; " +
        "everything else may name its types, never load it.",
      from: { path: "^(runtime|server|lab)/", pathNot: "^runtime/code/binaryen\\.ts$" },
      to: { path: "node_modules/binaryen/", dependencyTypesNot: ["type-only"] },
    },
    {
      name: "sqlite-only-in-its-driver",
      severity: "error",
      comment:
        "better-sqlite3 is an optional peer: only server/store/sqlite-driver.ts loads it, when a store opens " +
        "(embedding the runtime or using the client must install without it).",
      from: { path: "^(runtime|server|lab)/", pathNot: "^server/store/sqlite-driver\\.ts$" },
      to: { path: "node_modules/better-sqlite3/", dependencyTypesNot: ["type-only"] },
    },
    {
      name: "runtime-without-the-node",
      severity: "error",
      comment: "The embeddable runtime needs neither the HTTP server (Hono) nor the store's database.",
      from: { path: "^runtime/" },
      to: { path: "node_modules/(hono|@hono|better-sqlite3)/" },
    },
    {
      name: "binaryen-loader-is-lazy",
      severity: "error",
      comment: "The loader imports Binaryen when a worker first instruments, never at start-up.",
      from: { path: "^runtime/code/binaryen\\.ts$" },
      to: { path: "node_modules/binaryen/", dependencyTypesNot: ["type-only", "dynamic-import"] },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|guest/sdk|guest/examples)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
