// Process entry of the `ferry` command (bin/ferry.js loads the compiled file).
import { main } from "./main.js";

// exitCode rather than process.exit(): let piped stdout drain first.
process.exitCode = await main(process.argv.slice(2));
