#!/usr/bin/env node
// The CLI lives in compiled TypeScript; `npm ci` builds it through the `prepare` script.
import { main } from '../dist/src/cli/main.js';

main(process.argv);
