/**
 * What `--compress` does to training (issue 20; docs/benchmarks.md, "Compression: the effect on
 * training"): on the bundled mnist digits, `dptrain coordinator` + n workers on 127.0.0.1 (ring),
 * the same seed, without and with --compress fp16 / bf16 (± --compress-feedback). Prints the
 * parameters' max relative difference to the uncompressed run after --steps steps, and the final
 * validation accuracy after --epochs epochs of each.
 *
 *   npm run build && node dist/scripts/bench-compress.js [--workers 2] [--steps 100] [--epochs 3]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadParameters } from '../src/train/index.js';
import { paramLayout, parseModelSpec } from '../src/model/index.js';
import { fmt, machineLine, scriptFlags } from './bench-common.js';

const script = fileURLToPath(import.meta.url);
const repo = path.resolve(path.dirname(script), '..', '..');
const dptrain = path.join(repo, 'bin', 'dptrain.js');
const VARIANTS: [string, string[]][] = [
  ['none', []],
  ['fp16', ['--compress', 'fp16']],
  ['bf16', ['--compress', 'bf16']],
  ['bf16 + feedback', ['--compress', 'bf16', '--compress-feedback']],
];

function run(args: string[], workers: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const coordinator = spawn(process.execPath, [dptrain, 'coordinator', '--listen', '127.0.0.1:0', '--min-workers', String(workers), '--allreduce', 'ring', '--log-format', 'json', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let started = false;
    coordinator.stderr!.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-20000);
      const m = /"url":"(ws:\/\/[^"]+)"/.exec(err);
      if (m && !started) {
        started = true;
        for (let k = 1; k <= workers; k++) spawn(process.execPath, [dptrain, 'worker', '--connect', m[1], '--threads', '1', '--name', `w${k}`], { stdio: 'ignore' });
      }
    });
    coordinator.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`coordinator exited ${code}: ${err.slice(-2000)}`))));
  });
}

async function main(): Promise<void> {
  const flags = scriptFlags(process.argv.slice(2), { workers: '2', steps: '100', epochs: '3', model: 'mlp:784-256-128-10', 'batch-size': '256', seed: '1' });
  const workers = Number(flags.workers);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dptrain-bench-compress-'));
  const common = ['--dataset', 'mnist', '--model', flags.model, '--batch-size', flags['batch-size'], '--seed', flags.seed];
  console.log(machineLine());
  console.log(`mnist digits, ${flags.model}, batch ${flags['batch-size']}, seed ${flags.seed}, ${workers} workers (ring), the trainer's default optimizer and lr`);
  const layout = paramLayout(parseModelSpec(flags.model));
  const results: { name: string; rel: number; acc: number }[] = [];
  let reference: Float32Array | null = null;
  try {
    for (const [name, extra] of VARIANTS) {
      const short = path.join(dir, `${name}-steps`.replace(/\W+/g, '-'));
      await run([...common, ...extra, '--max-steps', flags.steps, '--epochs', '1000', '--out', short], workers);
      const params = await loadParameters(path.join(short, 'final.safetensors'), layout, flags.model);
      reference ??= params;
      // As the exactness tests measure it: max |Δ| over the vector's scale max |p|.
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < params.length; i++) {
        diff = Math.max(diff, Math.abs(params[i] - reference[i]));
        scale = Math.max(scale, Math.abs(reference[i]));
      }
      const rel = diff / scale;
      const long = path.join(dir, `${name}-epochs`.replace(/\W+/g, '-'));
      await run([...common, ...extra, '--epochs', flags.epochs, '--out', long], workers);
      const summary = JSON.parse(fs.readFileSync(path.join(long, 'summary.json'), 'utf8')) as { final?: { valAccuracy?: number }; valAccuracy?: number };
      const acc = summary.final?.valAccuracy ?? summary.valAccuracy ?? Number.NaN;
      results.push({ name, rel, acc });
      process.stderr.write(`  ${name} done\n`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\n| --compress | max relative difference of the parameters after ${flags.steps} steps (vs none) | validation accuracy after ${flags.epochs} epochs |`);
  console.log('|---|---:|---:|');
  for (const r of results) console.log(`| ${r.name} | ${r.rel === 0 ? '0' : r.rel.toExponential(2)} | ${fmt(100 * r.acc, 2)}% |`);
  console.log(`(relative difference: max_i |p_i − p_none,i| / max_i |p_none,i|, as the exactness tests measure; the contract without compression is < 1e-5)`);
}

await main();
