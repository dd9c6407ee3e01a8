#!/usr/bin/env node
// The installed `ferry` command: the compiled CLI (built by `npm run build`).
import "../dist/server/cli/bin.js";
