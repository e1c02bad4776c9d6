#!/usr/bin/env node
// The server's commands (`tianqi start`, `migrate`, …): the compiled entry (run `npm run build` first).
import '../dist/cli/tianqi-server.js';
