#!/usr/bin/env node
// The `tianqi` command: the compiled CLI (run `npm run build` first).
import '../dist/tianqi.js';
