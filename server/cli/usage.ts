// Help texts and the usage error every command throws for bad command lines (exit status 2).

import { EXIT_STATUS_TABLE } from "./exit-status.js";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

const TEXTS = {
  main: `ferry — sandboxed mobile WebAssembly guests

Usage: ferry <command> [options]

Commands:
  run <guest.wasm>     run a guest, optionally pausing and checkpointing it
  resume <snap.ferry>  continue a checkpointed run to completion
  inspect <snap.ferry> describe a snapshot file
  keygen               create a client key pair (key file, mode 0600)
  admin <command>      add, update, list, disable or enable clients in a node's data directory
  serve                run a Ferry node (HTTP API, durable store, migration to peers)
  node info            print a node's entry for a peers file: { nodeId, url, publicKey }
  peers <command>      add (fetching its identity), list or remove a node's peers
  upload <guest.wasm>  upload a module to a node (signed with --key)
  modules              list the modules you may run on a node (public ones, and yours)
  submit <code-hash>   start a job on a node
  status [<job-id>]    show a job where it lives now (--wait: until it ends), or list your jobs
  pause <job-id>       pause a running job (it is checkpointed)
  resume <job-id>      continue a paused job
  cancel <job-id>      end a job (cancelled)
  logs <job-id>        a job's output as text; --follow: live output, log lines and states to its end
  output <job-id>      a job's output, raw (--out FILE)
  snapshot <job-id>    save a paused job's snapshot to a file (--out FILE)
  migrate <job-id>     move a job to a peer node (--to PEER-ID or PEER-URL)
  share <job-id>       let the node's load sharing move a job of yours to its peers
  cache [clear]        show or empty the cache of instrumented modules

Run 'ferry <command> --help' for a command's options.`,
  run: `Usage: ferry run <guest.wasm> [options] [-- program arguments]

Runs a Ferry guest, or a WASI program (one compiled for wasm32-wasi from C, Rust, Zig...) the way
'wasmtime run' does: its stdout is the output, its stderr the log, its exit code ferry's.

Options:
  --entry NAME            exported function to call (default: _start for a WASI program, else main)
  --args A,B,...          arguments, checked against the entry's parameter types (repeatable;
                          negative numbers work as they are: --args -5)
  --input FILE            bytes the guest reads with ferry.input_read (a WASI program's stdin)
  --dir HOST[:GUEST]      WASI: give the program the host directory HOST, seen as GUEST (default:
                          HOST as written); it can reach nothing outside it (repeatable)
  --dir-ro HOST[:GUEST]   the same, read-only (repeatable)
  --env NAME=VALUE        WASI: an environment variable; nothing of ferry's own environment is
                          passed (repeatable)
  --fuel N                total fuel budget; exceeding it ends the run with out_of_fuel
  --slice N               fuel per slice: how often the host takes control back
                          (default: unlimited, or 1000000 with --checkpoint-every)
  --checkpoint-every K    write a snapshot every K slices to --out; the run goes on to completion
  --out FILE              where --checkpoint-every writes (atomically); embeds the module
  --max-memory-pages N    memory cap in 64 KiB pages (default 4096 = 256 MiB)
  --sandbox KIND          in-process (default: the host's thread) or isolated (a child process)
  --timeout-ms N          isolated only: wall-clock deadline per slice; past it the process is killed
  --json                  print one JSON object instead of the guest's output and value
  --cache-dir DIR         keep instrumented modules in DIR (default: $FERRY_CACHE_DIR,
                          $XDG_CACHE_HOME/ferry or ~/.cache/ferry; see 'ferry cache --help')
  --no-cache              instrument in this process only; read and write no cache
  -h, --help              show this help

Prints the guest's output, then the entry's return value on its own line. Exit status: 0 when the
run is done (a WASI program's own exit code), 1 when it trapped.`,
  resume: `Usage: ferry resume <snap.ferry> [options]
       ferry resume <job-id> [--node URL] [--key FILE] [--no-follow]

With a job id (and no file of that name): continues the paused job on the node where it lives now
(a migrated job is followed there) and prints it as JSON. With a snapshot file:

Options:
  --module FILE           the guest module, if the snapshot does not embed it; it must be the
                          module the snapshot was taken from (checked by its sha256)
  --dir HOST[:GUEST]      a WASI program's directory, given again under the guest path it had
  --dir-ro HOST[:GUEST]   (a snapshot naming one that is not given is refused: snapshot_resources)
  --slice N               fuel per slice (default: unlimited, or 1000000 with --checkpoint-every)
  --fuel N                total fuel budget of the run (default: the budget recorded in the snapshot)
  --checkpoint-every K    keep writing snapshots every K slices to --out
  --out FILE              where --checkpoint-every writes
  --sandbox KIND          in-process (default) or isolated: either resumes any snapshot
  --timeout-ms N          isolated only: wall-clock deadline per slice
  --max-memory-pages N    memory cap in 64 KiB pages (default 4096 = 256 MiB); a snapshot
                          with more memory, or whose compressed pages inflate past it, is
                          refused (snapshot_limit) before anything is inflated
  --json                  print one JSON object
  --cache-dir DIR         keep instrumented modules in DIR (default: $FERRY_CACHE_DIR,
                          $XDG_CACHE_HOME/ferry or ~/.cache/ferry; see 'ferry cache --help')
  --no-cache              instrument in this process only; read and write no cache
  -h, --help              show this help

Prints the output written after the snapshot was taken, then the entry's return value.`,
  cache: `Usage: ferry cache [info | clear] [--cache-dir DIR] [--json]

'ferry run' and 'ferry resume' keep each module they instrument in a cache directory, keyed by
the module's sha256, the instrumentation pipeline and every setting that changes its output (memory
cap, limits), so the same module is instrumented once and later runs start without Binaryen.
Entries are verified on every read (a damaged one is ignored and replaced), and the cache keeps at
most 256 MiB, dropping the least recently used first. Refused modules are not cached.

The directory: --cache-dir, else $FERRY_CACHE_DIR, else $XDG_CACHE_HOME/ferry, else ~/.cache/ferry.
A node ('ferry serve') keeps its own in <data-dir>/module-cache.

  info (default)          print the directory, its entries and their size
  clear                   delete every entry (the same as removing the directory)`,
  inspect: `Usage: ferry inspect <snap.ferry> [--json] [--max-memory-pages N]

Verifies the snapshot's integrity and prints its header, section sizes, memory pages,
continuation (entry, arguments, fuel, saved stack) and code hash.`,
  keygen: `Usage: ferry keygen [--out FILE] [--force] [--json]

Options:
  --out FILE              where to write the key file (default: ferry.key.json); mode 0600, atomic
  --force                 replace an existing key file (its private key is lost)
  --json                  print { clientId, keyFile, publicKey } as JSON
  -h, --help              show this help

Writes an Ed25519 key pair (PEM PKCS8 + SPKI in JSON) and prints the client id and the public key.
Only the public key goes to the node's admin; the key file signs your requests.`,
  admin: `Usage: ferry admin <command> [options]

Commands:
  add-client --public-key FILE [--id ID] [--capabilities LIST] [--quotas Q]
                          register a client by its Ed25519 public key (a key file or a PEM file);
                          the id defaults to the key's fingerprint (what keygen prints)
  update-client <id> [--capabilities LIST] [--quotas Q]
                          change a client's grants: the quotas named change, the others stay;
                          --capabilities replaces the list ('' for none). Its next request and
                          next job see them (running jobs keep the budgets they started with)
  list-clients            print every client with its capabilities and quotas
  disable-client <id>     reject the client's requests from now on
  enable-client <id>      accept them again

Options:
  --data-dir DIR          the node's data directory (default: ./data); it must exist (a node
                          makes it on its first start); safe while the node runs
  --create                make the data directory if it does not exist
  --capabilities LIST     resources the client's code may bind: <resource>:<r|w|rw>, comma list,
                          repeatable ("reports/*:rw,config.json:r"); default none
  --quotas Q              name=integer pairs or JSON: maxModuleBytes (default 4 MiB),
                          maxMemoryPages (1024 = 64 MiB), maxFuelPerJob (10^13: minutes of CPU),
                          maxConcurrentJobs (4), maxResourceBytes (the client's files on a node,
                          together: 64 MiB), maxResourceEntries (files and directories: 1000);
                          add-client gives unnamed quotas their defaults
  --json                  print JSON
  -h, --help              show this help`,
  serve: `Usage: ferry serve [options]

Options:
  --port N                  port to listen on (default 8080; 0 lets the OS choose)
  --host ADDR               address to bind (default 127.0.0.1)
  --data-dir DIR            SQLite store, blobs and the node key (default ./data)
  --peers FILE              JSON array of { nodeId, url, publicKey } this node migrates jobs to and from
  --checkpoint-interval-ms N  snapshot running jobs this often (default 5000; 0: only when paused)
  --max-running-jobs N      jobs running at once; more wait queued (default unlimited)
  --precopy-rounds N        pre-copy rounds at most before a strong migration stops a job (1-16,
                            default 4; 1 = one copy, then the stop sends everything changed since)
  --isolated-timeout-ms N   deadline of one slice of an isolated job (default 30000): past it the
                            job's process is killed and the job ends trapped deadline_exceeded
  --hibernate-after-ms N    a job paused this long leaves memory (its checkpoint holds it until it
                            is resumed or migrated; default 10000)
  --anonymous-ttl-ms N      paused and finished anonymous jobs untouched this long are deleted
                            with their output and checkpoints (default 3600000)
  --anonymous-fuel N        fuel one anonymous job may use (default 10^12: minutes of CPU); the
                            other anonymous limits: 256 unfinished, 16 paused, 256 finished kept,
                            1 MiB of input and of output, 16 MiB of memory, in-process only
  --compile-timeout-ms N    wall-clock limit of one module's validation + instrumentation, plus
  --compile-timeout-ms-per-kib N   this much per KiB of the module (defaults 120000 and 250, at most
                            30 min in all); past it the module is refused module_limit
  --compile-workers N       module compiles at once, each in a worker thread (default 1); more wait
  --compile-memory-mb N     Binaryen heap limit of a compile (default 1024); past it: module_limit
  --balance POLICY          share load with the peers: none, sender, receiver, symmetric, adaptive,
                            or elz-sender / elz-receiver (one threshold: --balance-threshold)
  --balance-lower N, --balance-upper N   receiver / sender thresholds on queued + running jobs (1 / 4)
  --balance-max-polls N     probe limit MAX per round (3)
  --balance-interval-ms D   wait between polling rounds (500)
  --balance-threshold T     T of elz-sender / elz-receiver (2): an arrival at T or more jobs
                            probes; a node below T takes one (--balance-max-polls is their Lp)
  --json                    print { nodeId, url, publicKey, dataDir, recovered } as JSON (the first
                            three are this node's peers-file entry, as 'ferry node info' prints it)
  -h, --help                show this help

The peers file is a JSON array of { nodeId, url, publicKey } ("node" and "clientId" are still read as
nodeId, with a note). SIGHUP reads it again: new peers are added, changed keys replaced (peers added
with 'ferry peers add --data-dir' are used at once, with no signal).
Runs until SIGINT or SIGTERM. After a crash, a restart resumes every job from its last checkpoint.`,
  node: `Usage: ferry node info [--node URL]
       ferry node info --data-dir DIR --url URL

Prints this node's entry for a peers file, exactly: { "nodeId", "url", "publicKey" }. With --node (or
$FERRY_NODE, default http://127.0.0.1:8080) it asks the running node (GET /node; url is the address
you reached it at); with --data-dir it reads the node's key there and takes the address from --url.
The nodeId is the fingerprint of the public key (checked).`,
  peers: `Usage: ferry peers add <peer-url> [--data-dir DIR | --file FILE] [--expect FINGERPRINT] [--json]
       ferry peers list [--data-dir DIR | --file FILE] [--json]
       ferry peers remove <node-id> [--data-dir DIR | --file FILE]

add asks the node at <peer-url> for its identity (GET /node), checks that its id is its key's
fingerprint, prints that fingerprint (compare it with 'ferry node info' there; --expect refuses any
other) and stores the peer: in the node's data directory (default ./data; a running node uses it at
once) or in a peers file (--file; a running node reads it again on SIGHUP). Migration needs each of
two nodes to be the other's peer: run it on both sides.`,
  upload: `Usage: ferry upload <guest.wasm> --key FILE [--node URL] [--public]

Validates and instruments the module on the node and prints its code hash. --public lets anyone
download it and run it anonymously. --node defaults to $FERRY_NODE or http://127.0.0.1:8080;
--key to $FERRY_KEY.`,
  submit: `Usage: ferry submit <code-hash> [options] [-- ARGS...]

Options:
  --node URL              the node (default $FERRY_NODE or http://127.0.0.1:8080)
  --key FILE              sign as this client (without it the job is anonymous: public modules, in-process)
  --entry NAME            exported function (default main)
  --args A,B,...          decimal arguments (negative ones as they are: --args -5); the node checks
                          them against the entry's signature before storing the job
  --input FILE            bytes the guest reads
  --fuel N                fuel budget of the job
  --sandbox KIND          in-process or isolated
  --wait MS               wait up to MS for the job to end before printing it
  -q, --quiet             print only the job id (JOB=$(ferry submit … -q))

WASI programs (modules importing wasi_snapshot_preview1; the entry defaults to _start):
  -- ARGS...              the program's arguments (argv[1..])
  --env NAME=VALUE        an environment variable (repeatable; nothing of yours is passed otherwise)
  --dir RESOURCE[:GUEST]  your resource directory RESOURCE on the node, read-write, as GUEST
                          (default /RESOURCE); needs a capability "RESOURCE/*:rw"; runs isolated
  --dir-ro RESOURCE[:GUEST]  the same, read-only; needs "RESOURCE/*:r"
  --dir-migrate GUEST=ACTION  what a migration does with that directory (repeatable):
                          global-reference (default: it stays here, the job reaches back to it),
                          move (it goes with the job), copy (the job takes a copy; by value),
                          rebind (the target node's own directory of that name; by type)
  --scratch GUEST         a private in-memory directory that lives and moves with the job

Prints the job as JSON. With --wait the exit status says how the job ended: 1 if it trapped,
failed or was cancelled, 0 if it completed or is still running when the wait ends.`,
  modules: `Usage: ferry modules [--node URL] [--key FILE] [--limit N] [--before CODE-HASH]

Prints { modules: [{ codeHash, public, size, createdAt, mine }], next } as JSON, newest first:
public modules to anyone, and with --key your own private ones too (pass next as --before for the
next page; --limit 1-500, default 50).`,
  status: `Usage: ferry status <job-id> [--node URL] [--key FILE] [--wait] [--output FILE|-] [--no-follow]
       ferry status --key FILE [--node URL] [--state S[,S…]] [--limit N] [--before JOB-ID]

With a job id: prints the job as JSON (its output size in outputBytes) from the node it lives on
now: a job that migrated is followed to its node (movedTo; up to 8 hops; --no-follow prints this
node's record). --wait polls until it is no longer running (following it as it moves), and exits 1
if it ended trapped, failed or cancelled. --output FILE also writes the job's output so far to FILE, fetched a page at a
time; --output - writes the output to stdout instead of the JSON.
Without: lists your jobs on the node, newest first, as { jobs, next } (pass next as --before for the
next page; --limit 1-500, default 50; --state queued, running, paused, done, trapped, …).`,
  migrate: `Usage: ferry migrate <job-id> --to PEER-ID|PEER-URL --key FILE [--node URL] [--weak]

Moves a running or paused job to a peer, named by its node id or its URL (whose node is asked for
its id, GET /node): strong (default) ships its execution state (a paused job
arrives paused), --weak only its code and arguments (the peer restarts it). Prints the job as JSON:
state migrated, movedTo { node, url, committed } (committed: the peer acknowledged the hand-over;
false: the node keeps retrying, the job is the peer's either way).`,
  pause: `Usage: ferry pause <job-id> [--node URL] [--key FILE] [--no-follow]

Pauses a running job after its current slice and checkpoints it; prints the job as JSON. The job is
found where it lives now (a migrated job is followed to its node; --no-follow: this node only).
'ferry resume <job-id>' continues it, 'ferry snapshot <job-id>' saves its snapshot.`,
  cancel: `Usage: ferry cancel <job-id> [--node URL] [--key FILE] [--no-follow]

Ends a queued, running or paused job as cancelled (a running isolated job's process is killed at
once); prints the job as JSON.`,
  output: `Usage: ferry output <job-id> [--out FILE] [--node URL] [--key FILE] [--no-follow]

Writes the job's output so far, raw bytes, to stdout (or FILE), fetched a page at a time.`,
  logs: `Usage: ferry logs <job-id> [--follow] [--node URL] [--key FILE] [--no-follow]

Prints the job's output so far as text on stdout. With --follow (-f) it goes on: output as the job
writes it on stdout, its log lines on stderr ("log: …") and each state change on stderr ("ferry: job
ID paused"), until the job ends — following it to the node it migrates to. Log lines are not kept by
a node: only --follow shows them, from when it starts. With --follow the exit status says how the
job ended (1: trapped, failed or cancelled).`,
  snapshot: `Usage: ferry snapshot <job-id> [--out FILE|-] [--node URL] [--key FILE] [--no-follow]

Saves the snapshot of a paused job (default file: <job-id>.ferry, written atomically; - for stdout).
The file does not embed the module: 'ferry inspect FILE' describes it, 'ferry resume FILE --module
<guest.wasm>' continues the run on this machine.`,
  share: `Usage: ferry share <job-id> --key FILE [--peers ID,ID] [--lifetime-ms N] [--node URL]

Lets the node's own load sharing move a job of yours to its peers and run it there as yours: one
migration grant per peer (default: every peer the node lists), valid for --lifetime-ms (at most an
hour, the default). Prints the job as JSON.`,
};

/** Every help text ends with the one exit status table. */
export const HELP = Object.fromEntries(Object.entries(TEXTS).map(([topic, text]) => [topic, `${text}\n\n${EXIT_STATUS_TABLE}`])) as Record<
  keyof typeof TEXTS,
  string
>;
