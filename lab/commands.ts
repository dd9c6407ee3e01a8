// The lab's commands, registered with the `ferry` command by its process entry (bin/ferry.js): the
// product's CLI (server/cli) does not import the lab. Each command's module is imported when it
// runs, so `ferry --help` loads only these lines and the help texts.

import type { CommandSet } from "../server/cli/main.js";
import { LAB_TEXTS } from "./cli/help.js";

export const LAB_COMMANDS: CommandSet = {
  title: "Measuring load sharing (the lab)",
  commands: {
    simulate: {
      summary: "compare load-sharing policies in the discrete-event simulator",
      help: LAB_TEXTS.simulate,
      load: async () => (await import("./cli/simulate.js")).simulateCommand,
    },
    cluster: {
      summary: "run load-sharing policies live on N node processes and measure them",
      help: LAB_TEXTS.cluster,
      load: async () => (await import("./cli/cluster.js")).clusterCommand,
    },
  },
};
