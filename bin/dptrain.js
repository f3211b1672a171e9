#!/usr/bin/env node
// The CLI lives in compiled TypeScript; `npm ci` builds it through the `prepare` script.
let cli;
try {
  // A ws process collects at V8's heap limit (src/transport/heap.ts): set before any module
  // loads, since V8 does not expect the flag to change while it marks.
  const command = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
  if (command === 'coordinator' || command === 'worker') (await import('../dist/src/transport/heap.js')).collectAtTheLimit();
  cli = await import('../dist/src/cli/main.js');
} catch (error) {
  // A clone used before `npm ci`: say what to run instead of a module-resolution stack trace.
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('/dist/src/cli/main.js')) throw error;
  process.stderr.write('dptrain: error: dptrain is not built yet (dist/ is missing) — run npm ci, or npm run build [dptrain.cli.notBuilt]\n');
  process.exit(2);
}
await cli.main(process.argv);
