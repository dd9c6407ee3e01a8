// The Debian tools the test suite runs, installed when missing, so that `npm test` on a fresh
// machine needs nothing done by hand. Today that is wabt (wast2json: the conformance runner's tests
// convert .wast scripts with it) and Chromium (the dashboard's browser tests drive it headless with
// playwright-core, which never downloads a browser; FERRY_SKIP_BROWSER_TESTS=1 does without). Everything else the suite uses comes from npm, or has an npm
// fallback (wasm-opt: binaryen's package). Installs only with apt-get as root (or passwordless
// sudo); anywhere else it says what to install and fails, rather than letting tests fail later.
import { execFileSync, spawnSync } from "node:child_process";

const TOOLS = [
  { command: "wast2json", env: "WAST2JSON", debianPackage: "wabt" },
  { command: "chromium", env: "FERRY_CHROMIUM", debianPackage: "chromium", skipEnv: "FERRY_SKIP_BROWSER_TESTS" },
];

const found = (command) => spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
const missing = TOOLS.filter((t) => !(process.env[t.env] || (t.skipEnv && process.env[t.skipEnv] === "1") || found(t.command)));
if (missing.length === 0) process.exit(0);

const packages = missing.map((t) => t.debianPackage);
const asRoot = process.getuid?.() === 0;
const sudo = !asRoot && found("sudo") && spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status === 0;
if (!found("apt-get") || !(asRoot || sudo)) {
  console.error(
    `system-tools: missing ${missing.map((t) => t.command).join(", ")}; install Debian's ${packages.join(" ")} (apt-get install ${packages.join(" ")})`,
  );
  process.exit(1);
}
const run = (args) =>
  execFileSync(sudo ? "sudo" : args[0], sudo ? args : args.slice(1), {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
console.error(`system-tools: installing ${packages.join(" ")} with apt-get`);
try {
  run(["apt-get", "install", "-y", "-q", "--no-install-recommends", ...packages]);
} catch {
  run(["apt-get", "update", "-q"]);
  run(["apt-get", "install", "-y", "-q", "--no-install-recommends", ...packages]);
}
