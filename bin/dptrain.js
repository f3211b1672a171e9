#!/usr/bin/env node
// The CLI lives in compiled TypeScript; `npm ci` builds it through the `prepare` script.
let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (error) {
  // A clone used before `npm ci`: say what to run instead of a module-resolution stack trace.
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('/dist/src/cli/main.js')) throw error;
  process.stderr.write('dptrain: error: dptrain is not built yet (dist/ is missing) — run npm ci, or npm run build [dptrain.cli.notBuilt]\n');
  process.exit(2);
}
await cli.main(process.argv);
