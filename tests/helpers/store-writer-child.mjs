// Child process for the store's kill -9 test: writes checkpoints, outputs and job updates to the
// *built* store (dist/) as fast as it can, printing each finished iteration, until it is killed.
// argv: <dataDir>
import { randomBytes } from "node:crypto";
import { Store } from "../../dist/server/store/index.js";

const store = Store.open(process.argv[2], { checkpointsKept: 3 });
const { module } = store.modules.put(new Uint8Array(randomBytes(4096)), { owner: null, public: true });
store.jobs.create({ id: "j", codeHash: module.codeHash, owner: null, trust: "anonymous", entry: "main", node: "n1" });
for (let i = 1; ; i++) {
  store.checkpoints.add("j", new Uint8Array(randomBytes(1024 + Math.floor(Math.random() * 256 * 1024))), { fuel: i });
  store.jobs.update("j", i % 5 === 0 ? { fuelUsed: i, output: new Uint8Array(randomBytes(100)) } : { fuelUsed: i });
  process.stdout.write(`${i}\n`);
}
